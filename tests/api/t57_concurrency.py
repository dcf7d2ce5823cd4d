"""Concurrent writers: no lost creates, no lost updates."""

import json
import threading
import unittest

from harness import ServerTestCase, only_backend, psql

MERGE = [("Content-Type", "application/merge-patch+json")]


def run_threads(n, fn):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


class ConcurrentCreateTest(ServerTestCase):

    def test_400_creates_from_16_clients(self):
        before = self.db.count_items()
        results = [[] for _ in range(16)]
        barrier = threading.Barrier(16)

        def client(i):
            conn = self.srv.connection()  # one keep-alive connection per client
            barrier.wait()
            try:
                for j in range(25):
                    r = self.srv.request("POST", "/v1/items",
                                         {"name": "c%d-%d" % (i, j), "data": {"i": i, "j": j}},
                                         conn=conn)
                    results[i].append((r.status, r.json() if r.status == 201 else r.body))
            finally:
                conn.close()

        errors = run_threads(16, client)
        self.assertEqual(errors, [])
        flat = [x for per in results for x in per]
        self.assertEqual(len(flat), 400)
        bad = [x for x in flat if x[0] != 201]
        self.assertEqual(bad, [], "creates that did not answer 201")
        ids = [x[1]["id"] for x in flat]
        self.assertEqual(len(set(ids)), 400, "duplicate ids")
        names = {x[1]["name"] for x in flat}
        self.assertEqual(len(names), 400)
        self.assertEqual(self.db.count_items(), before + 400)
        # Every created item reads back as created.
        for status, item in flat[::37]:
            got = self.req("GET", "/v1/items/%d" % item["id"]).json()
            self.assertEqual(got, item)


class ConcurrentUpdateTest(ServerTestCase):

    def test_concurrent_patches_lose_nothing(self):
        item = self.create("counter", {})
        path = "/v1/items/%d" % item["id"]
        statuses = []

        def writer(t):
            conn = self.srv.connection()
            try:
                for i in range(10):
                    body = json.dumps({"data": {"t%d_%d" % (t, i): i}}).encode()
                    r = self.srv.request("PATCH", path, body, MERGE, conn=conn)
                    statuses.append((r.status, r.body[:200]))
            finally:
                conn.close()

        errors = run_threads(8, writer)
        self.assertEqual(errors, [])
        self.assertEqual([s for s in statuses if s[0] != 200], [])
        final = self.req("GET", path).json()
        expected = {"t%d_%d" % (t, i): i for t in range(8) for i in range(10)}
        self.assertEqual(final["data"], expected)
        self.assertEqual(final["version"], 81)

    def test_concurrent_puts_with_if_match_one_winner_per_version(self):
        item = self.create("cas", {})
        path = "/v1/items/%d" % item["id"]
        outcomes = []
        barrier = threading.Barrier(8)

        def writer(t):
            barrier.wait()
            r = self.srv.request("PUT", path, {"name": "w%d" % t}, [("If-Match", '"1"')])
            outcomes.append(r.status)

        self.assertEqual(run_threads(8, writer), [])
        self.assertEqual(sorted(outcomes), [200] + [412] * 7)
        self.assertEqual(self.req("GET", path).json()["version"], 2)

    def test_concurrent_puts_without_if_match_all_apply(self):
        item = self.create("last writer", {})
        path = "/v1/items/%d" % item["id"]
        outcomes = []

        def writer(t):
            for i in range(5):
                r = self.srv.request("PUT", path, {"name": "w%d-%d" % (t, i)})
                outcomes.append(r.status)

        self.assertEqual(run_threads(6, writer), [])
        self.assertEqual(outcomes, [200] * 30)
        self.assertEqual(self.req("GET", path).json()["version"], 31)

    def test_concurrent_deletes_one_204(self):
        item = self.create("del")
        path = "/v1/items/%d" % item["id"]
        outcomes = []
        barrier = threading.Barrier(6)

        def deleter(t):
            barrier.wait()
            outcomes.append(self.srv.request("DELETE", path).status)

        self.assertEqual(run_threads(6, deleter), [])
        self.assertEqual(sorted(outcomes), [204] + [404] * 5)


class PoolSizeTest(ServerTestCase):
    """DB_POOL_SIZE bounds the PostgreSQL connections, however many
    clients there are."""

    server_env = {"DB_POOL_SIZE": 3, "WORKER_THREADS": 2}

    @only_backend("postgres")
    def test_pool_size_bounds_connections(self):
        item = self.create("pool")
        done = []

        def client(i):
            conn = self.srv.connection()
            try:
                for _ in range(15):
                    done.append(self.srv.request("GET", "/v1/items/%d" % item["id"], conn=conn).status)
            finally:
                conn.close()

        self.assertEqual(run_threads(16, client), [])
        self.assertEqual(sorted(set(done)), [200])
        n = int(psql(["-d", self.db.name, "-c",
                      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid()"]))
        self.assertGreaterEqual(n, 1)
        self.assertLessEqual(n, 3)
        r = self.req("GET", "/metrics")
        self.assertIn('db_pool_size{backend="postgres"} 3', r.body.decode())


if __name__ == "__main__":
    unittest.main()
