/* The items API: /v1/items and /v1/items/{id} (handler_items.c). */
#ifndef IA_HANDLER_ITEMS_H
#define IA_HANDLER_ITEMS_H

#include "exchange.h"

void handle_items_collection(exchange_t *ex);
void handle_item(exchange_t *ex);

#endif
