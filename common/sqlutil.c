#include "sqlutil.h"
#include "log.h"

#include <stddef.h>

sqlite3_stmt *sql_prep(sqlite3 *db, const char *tag, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warn("%s: prepare failed: %s", tag, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

int sql_exec(sqlite3 *db, const char *tag, const char *sql)
{
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
		log_warn("%s: %s", tag, e ? e : sqlite3_errmsg(db));
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

void sql_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

json_t *sql_col_json_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	const char *s = (const char *)sqlite3_column_text(st, i);
	if (!s)
		return json_null();
	json_t *v = json_stringn(s, (size_t)sqlite3_column_bytes(st, i));
	if (!v)
		v = json_string("[invalid utf-8]");
	if (!v)
		fatal("sqlite: out of memory (json)");
	return v;
}
