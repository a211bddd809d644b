/* The three SQLite helpers the store and the vault both use; failures are
 * logged with the caller's tag ("auditdb", "credstore"). */
#ifndef HD_SQLUTIL_H
#define HD_SQLUTIL_H

#include <jansson.h>
#include <sqlite3.h>

sqlite3_stmt *sql_prep(sqlite3 *db, const char *tag, const char *sql);
int sql_exec(sqlite3 *db, const char *tag, const char *sql);
/* A text column as a JSON string (null for NULL); stored text that is not
 * UTF-8 (altered behind our back) becomes "[invalid utf-8]", never an abort. */
json_t *sql_col_json_text(sqlite3_stmt *st, int i);
/* Roll back an open transaction, if any. */
void sql_rollback(sqlite3 *db);

#endif
