# The production rehearsal (issue 6): the AWS topology on one machine with
# real processes — HAProxy as the ALB, N instances under a supervisor,
# PostgreSQL as RDS, network namespaces + nftables as the VPC — and failure
# drills under load. Needs root. See docs/operations.md.
#
#   make stack [INSTANCES=3]   bring it up; prints the URL and an API key
#                              (also in var/stack/url and var/stack/api-key)
#   make stack-roll            rolling update to a fresh build/items-api (or
#                              ITEMS_API_BIN); a release never ready, or
#                              tripping the deploy guard, is rolled back
#   make stack-rollback        rolling update back to the previous release
#   make stack-status          instances, releases, the balancer's view
#   make stack-snapshot [SNAPSHOT=name]   pg_dump of the database (RDS snapshot)
#   make stack-restore SNAPSHOT=name      restore it into a new database and
#                              roll the instances onto it
#   make stack-failover        the database primary's host dies; the standby in
#                              the other zone is promoted and the name moves to it
#   make stack-failback        a new synchronous standby in the other zone
#                              (fresh base backup): protected again
#   make stack-az-loss AZ=a|b  a whole Availability Zone dies (instances, database)
#   make stack-az-restore AZ=a|b   it comes back: standby rebuilt, instances moved home
#   make stack-scaler          start target tracking (rehearsal/scaler.py; stack-scaler-stop)
#   make stack-scale-out / stack-scale-in [K=1]   the group's capacity by hand
#   make stack-scale-drill     drill 9 alone: a load ramp, scale-out, scale-in
#   make stack-down            tear it all down (no process, namespace or file left)
#   make drills                every drill, full load phases
#   make test-stack            isolation test + stack-down leaves nothing
#   make test-drills           every drill with short load phases (CI)

INSTANCES ?= 3

.PHONY: stack stack-roll stack-rollback stack-status stack-snapshot stack-restore stack-down \
        stack-failover stack-failback stack-az-loss stack-az-restore \
        stack-scaler stack-scaler-stop stack-scale-out stack-scale-in stack-scale-drill \
        drills test-stack test-drills deps-stack
TEST_TARGETS += test-stack test-drills

deps-stack:
	@tools/deps.sh build stack

stack: deps-stack ## bring up the local production rehearsal (INSTANCES=n, default 3)
	@$(MAKE) --no-print-directory build
	@rehearsal/stack.sh up $(INSTANCES)

stack-roll: deps-stack ## rolling update to a fresh build (or ITEMS_API_BIN); rolls a bad release back, exit 1
	@$(MAKE) --no-print-directory build
	@rehearsal/stack.sh roll

stack-rollback: deps-stack ## rolling update back to the release before the last roll
	@rehearsal/stack.sh rollback

stack-status: ## the stack's instances and the balancer's view of them
	@rehearsal/stack.sh status

stack-snapshot: ## snapshot the stack's database (SNAPSHOT=name, default a timestamp)
	@rehearsal/stack.sh snapshot $(SNAPSHOT)

stack-restore: ## restore SNAPSHOT=name into a new database, roll the instances onto it
	@test -n "$(SNAPSHOT)" || { echo "usage: make stack-restore SNAPSHOT=name" >&2; exit 2; }
	@rehearsal/stack.sh restore $(SNAPSHOT)

stack-failover: ## kill the database primary, promote the standby, move the name; prints the figures
	@rehearsal/stack.sh failover

stack-failback: ## rebuild a synchronous standby in the other zone (fresh base backup)
	@rehearsal/stack.sh failback

stack-az-loss: ## lose a whole zone (AZ=a|b): its instances and database server, kill -9
	@test -n "$(AZ)" || { echo "usage: make stack-az-loss AZ=a|b" >&2; exit 2; }
	@rehearsal/stack.sh az-loss $(AZ)

stack-az-restore: ## the zone is back (AZ=a|b): standby rebuilt there, its instances moved home
	@test -n "$(AZ)" || { echo "usage: make stack-az-restore AZ=a|b" >&2; exit 2; }
	@rehearsal/stack.sh az-restore $(AZ)

stack-scaler: ## start the target-tracking scaler (capacity-model.json; STACK_TIME_FACTOR, default in its "rehearsal")
	@rehearsal/stack.sh scaler start

stack-scaler-stop: ## stop the scaler (after the scaling activity in progress)
	@rehearsal/stack.sh scaler stop

stack-scale-out: ## launch K instances (default 1), as the Auto Scaling group does
	@rehearsal/stack.sh scale-out $(or $(K),1)

stack-scale-in: ## deregister, drain and stop K instances (default 1), never below the minimum
	@rehearsal/stack.sh scale-in $(or $(K),1)

stack-scale-drill: deps-stack ## drill 9 alone, full length: the stack scales like the Auto Scaling group under a load ramp
	@$(MAKE) --no-print-directory build
	@DRILLS_MODE=full tests/drills/run.sh scale

stack-down: ## tear the stack down
	@rehearsal/stack.sh down

drills: deps-stack ## failure drills under load, full length (build/drills/results.md)
	@$(MAKE) --no-print-directory build
	@DRILLS_MODE=full tests/drills/run.sh

test-stack: deps-stack ## network isolation of the stack, and stack-down leaves nothing
	@$(MAKE) --no-print-directory build
	@tests/stack/run.sh

test-drills: deps-stack ## the failure drills with short load phases
	@$(MAKE) --no-print-directory build
	@DRILLS_MODE=ci tests/drills/run.sh
