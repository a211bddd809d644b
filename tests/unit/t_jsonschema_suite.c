/* Runs the official JSON-Schema-Test-Suite against workers/packs/jsonschema.c
 * for the keyword files we claim to support. Groups whose schema
 * jsonschema_check() rejects are counted as skipped (with the reason printed),
 * never as passes, so the pass count only covers behaviour we implement.
 *
 * Suite location: $JSONSCHEMA_SUITE_DIR if set, else the first of
 * draft2020-12, draft2019-09, draft7 under the Debian install path. Older
 * drafts are a fallback because some distributions (e.g. Debian 12's
 * json-schema-test-suite 2.0.0) ship no draft2020-12 tests; for the supported
 * keyword subset the semantics are identical (array-form "items", which
 * differs, is rejected by jsonschema_check and therefore skipped). */
#include "workers/packs/jsonschema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUITE_ROOT "/usr/share/json-schema-test-suite/tests"

static const char *const suite_files[] = {
    "type",          "properties",       "required",         "enum",
    "const",         "minimum",          "maximum",          "exclusiveMinimum",
    "exclusiveMaximum", "minLength",     "maxLength",        "items",
    "minItems",      "maxItems",         "uniqueItems",      "additionalProperties",
    "minProperties", "maxProperties",    "boolean_schema",
};

typedef struct suite_stats {
    unsigned long n; /* TAP lines emitted */
    unsigned long passed, failed, skipped;
} suite_stats;

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Descriptions are free text: keep one TAP line per case and stop a stray
 * '#' from being read as a SKIP/TODO directive. */
static void put_desc(const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t')
            putchar(' ');
        else if (*s == '#')
            fputs("\\#", stdout);
        else
            putchar(*s);
    }
}

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : def;
}

static void tap_line(suite_stats *st, int ok, const char *file, const char *group,
                     const char *name)
{
    st->n++;
    printf("%s %lu - %s: ", ok ? "ok" : "not ok", st->n, file);
    put_desc(group);
    fputs(" / ", stdout);
    put_desc(name);
    putchar('\n');
}

static void run_file(suite_stats *st, const char *dir, const char *name)
{
    char path[4096], label[128];
    int w = snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    snprintf(label, sizeof(label), "%s.json", name);
    if (w < 0 || (size_t)w >= sizeof(path)) {
        tap_line(st, 0, label, "load", "suite path too long");
        st->failed++;
        return;
    }

    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("# %s not present in this suite version\n", label);
        return;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!root || !json_is_array(root)) {
        tap_line(st, 0, label, "load", root ? "root is not an array" : jerr.text);
        st->failed++;
        json_decref(root);
        return;
    }

    for (size_t g = 0; g < json_array_size(root); g++) {
        const json_t *group = json_array_get(root, g);
        const char *gdesc = str_or(group, "description", "(no description)");
        const json_t *schema = json_object_get(group, "schema");
        const json_t *tests = json_object_get(group, "tests");
        if (!json_is_array(tests)) {
            tap_line(st, 0, label, gdesc, "malformed test group");
            st->failed++;
            continue;
        }

        js_error err;
        if (jsonschema_check(schema, &err) != 0) {
            size_t nt = json_array_size(tests);
            st->skipped += nt;
            printf("# skip %s: ", label);
            put_desc(gdesc);
            printf(" (%zu case%s): %s [schema path \"%s\"]\n", nt, nt == 1 ? "" : "s", err.msg,
                   err.path);
            continue;
        }

        for (size_t t = 0; t < json_array_size(tests); t++) {
            const json_t *tc = json_array_get(tests, t);
            const json_t *data = json_object_get(tc, "data");
            const json_t *valid = json_object_get(tc, "valid");
            const char *tdesc = str_or(tc, "description", "(no description)");
            if (!data || !json_is_boolean(valid)) {
                tap_line(st, 0, label, gdesc, tdesc);
                printf("#   malformed test case\n");
                st->failed++;
                continue;
            }
            int got = jsonschema_validate(schema, data, &err) == 0;
            int want = json_is_true(valid);
            tap_line(st, got == want, label, gdesc, tdesc);
            if (got == want) {
                st->passed++;
            } else {
                st->failed++;
                printf("#   expected %s, got %s", want ? "valid" : "invalid",
                       got ? "valid" : "invalid");
                if (!got)
                    printf(" (at \"%s\": %s)", err.path, err.msg);
                putchar('\n');
            }
        }
    }
    json_decref(root);
}

int main(void)
{
    const char *env = getenv("JSONSCHEMA_SUITE_DIR");
    static const char *const drafts[] = {"draft2020-12", "draft2019-09", "draft7"};
    char dir[4096] = "";

    if (env && *env) {
        if (is_dir(env))
            snprintf(dir, sizeof(dir), "%s", env);
    } else {
        for (size_t i = 0; i < sizeof(drafts) / sizeof(drafts[0]) && !dir[0]; i++) {
            char cand[4096];
            snprintf(cand, sizeof(cand), "%s/%s", SUITE_ROOT, drafts[i]);
            if (is_dir(cand))
                snprintf(dir, sizeof(dir), "%s", cand);
        }
    }
    if (!dir[0]) {
        printf("1..0 # SKIP json-schema-test-suite not installed\n");
        return 0;
    }
    printf("# suite directory: %s\n", dir);

    suite_stats st = {0, 0, 0, 0};
    for (size_t i = 0; i < sizeof(suite_files) / sizeof(suite_files[0]); i++)
        run_file(&st, dir, suite_files[i]);

    printf("1..%lu\n", st.n);
    printf("# jsonschema suite: %lu passed, %lu failed, %lu skipped (unsupported keywords) of %lu\n",
           st.passed, st.failed, st.skipped, st.passed + st.failed + st.skipped);
    return st.failed == 0 ? 0 : 1;
}
