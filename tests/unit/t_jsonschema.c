/* Unit tests for workers/packs/jsonschema.c: keyword rejection, error paths
 * and messages, and robustness against hostile (deep, odd) inputs. TAP. */
#include "workers/packs/jsonschema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_num, t_failed;

static void t_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void t_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    t_num++;
    if (!cond)
        t_failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", t_num);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) {
        printf("Bail out! bad test JSON (%s): %s\n", e.text, text);
        exit(2);
    }
    return v;
}

/* check() must fail, with err.path == want_path and msg containing each of
 * the (up to two) fragments. */
static void expect_check_fail(const char *schema, const char *want_path, const char *frag1,
                              const char *frag2, const char *desc)
{
    json_t *s = J(schema);
    js_error err;
    memset(&err, 0x55, sizeof(err)); /* prove fields get terminated */
    int rc = jsonschema_check(s, &err);
    int good = rc == -1 && strcmp(err.path, want_path) == 0 && strstr(err.msg, frag1) &&
               (!frag2 || strstr(err.msg, frag2));
    t_ok(good, "check rejects %s", desc);
    if (!good)
        printf("#   rc=%d path=\"%.255s\" msg=\"%.255s\"\n", rc, err.path, err.msg);
    json_decref(s);
}

static void expect_check_ok(const char *schema, const char *desc)
{
    json_t *s = J(schema);
    js_error err;
    int rc = jsonschema_check(s, &err);
    t_ok(rc == 0, "check accepts %s", desc);
    if (rc != 0)
        printf("#   path=\"%s\" msg=\"%s\"\n", err.path, err.msg);
    json_decref(s);
}

/* Schema must pass check; instance must fail with exactly want_path and a
 * message equal to want_msg (or containing it when substr is set). */
static void expect_invalid(const char *schema, const char *inst, const char *want_path,
                           const char *want_msg, int substr, const char *desc)
{
    json_t *s = J(schema), *i = J(inst);
    js_error err;
    int crc = jsonschema_check(s, &err);
    memset(&err, 0x55, sizeof(err));
    int rc = jsonschema_validate(s, i, &err);
    int msg_ok = substr ? strstr(err.msg, want_msg) != NULL : strcmp(err.msg, want_msg) == 0;
    int good = crc == 0 && rc == -1 && strcmp(err.path, want_path) == 0 && msg_ok;
    t_ok(good, "%s", desc);
    if (!good)
        printf("#   check=%d rc=%d path=\"%.255s\" msg=\"%.255s\" (want \"%s\": \"%s\")\n", crc, rc,
               err.path, err.msg, want_path, want_msg);
    json_decref(s);
    json_decref(i);
}

static void expect_valid(const char *schema, const char *inst, const char *desc)
{
    json_t *s = J(schema), *i = J(inst);
    js_error err;
    int crc = jsonschema_check(s, &err);
    int rc = crc == 0 ? jsonschema_validate(s, i, &err) : -1;
    t_ok(rc == 0, "%s", desc);
    if (rc != 0)
        printf("#   check=%d path=\"%s\" msg=\"%s\"\n", crc, err.path, err.msg);
    json_decref(s);
    json_decref(i);
}

static const char *PACK_SCHEMA =
    "{\"type\":\"object\",\"required\":[\"url\"],"
    "\"properties\":{\"url\":{\"type\":\"string\",\"minLength\":1},"
    "\"width\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":8192}},"
    "\"additionalProperties\":false}";

static void test_check(void)
{
    expect_check_fail("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"^a\"}}}",
                      "/properties/x/pattern", "unsupported keyword \"pattern\"", "at /properties/x",
                      "nested pattern, naming keyword and location");
    expect_check_fail("{\"$ref\":\"#/$defs/x\"}", "/$ref", "unsupported keyword \"$ref\"", "at root",
                      "$ref at root");
    expect_check_fail("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "/anyOf",
                      "unsupported keyword \"anyOf\"", NULL, "anyOf");
    expect_check_fail("{\"items\":[{\"type\":\"string\"}]}", "/items", "\"items\"", "array form",
                      "items array form");
    expect_check_fail("{\"items\":{\"not\":{}}}", "/items/not", "\"not\"", "at /items",
                      "keyword inside items");
    expect_check_fail("{\"additionalProperties\":{\"if\":true}}", "/additionalProperties/if", "\"if\"",
                      NULL, "keyword inside additionalProperties");
    expect_check_fail("{\"properties\":{\"a/b~c\":{\"oneOf\":[]}}}", "/properties/a~1b~0c/oneOf",
                      "\"oneOf\"", "at /properties/a~1b~0c", "keyword under escaped property name");
    expect_check_fail("{\"prefixItems\":[{}],\"items\":false}", "/prefixItems", "\"prefixItems\"", NULL,
                      "prefixItems");
    expect_check_fail("{\"$defs\":{}}", "/$defs", "\"$defs\"", NULL, "$defs");
    expect_check_fail("{\"dependentRequired\":{}}", "/dependentRequired", "\"dependentRequired\"",
                      NULL, "dependentRequired");
    expect_check_fail("{\"contains\":{}}", "/contains", "\"contains\"", NULL, "contains");
    expect_check_fail("{\"patternProperties\":{}}", "/patternProperties", "\"patternProperties\"",
                      NULL, "patternProperties");
    expect_check_fail("{\"multipleOf\":2}", "/multipleOf", "\"multipleOf\"", NULL, "multipleOf");
    expect_check_fail("{\"Type\":\"string\"}", "/Type", "\"Type\"", NULL,
                      "keyword with wrong case (no silent typo)");
    expect_check_fail("{\"x\":1}", "/x", "\"x\"", NULL, "\"x\" without dash");

    /* malformed values */
    expect_check_fail("{\"type\":\"strin\"}", "/type", "unknown type \"strin\"", NULL,
                      "unknown type name");
    expect_check_fail("{\"type\":[\"string\",\"string\"]}", "/type", "\"type\"", NULL,
                      "duplicate type names");
    expect_check_fail("{\"type\":7}", "/type", "\"type\"", NULL, "non-string type");
    expect_check_fail("{\"minLength\":-1}", "/minLength", "non-negative integer", NULL,
                      "negative minLength");
    expect_check_fail("{\"maxItems\":1.5}", "/maxItems", "non-negative integer", NULL,
                      "fractional maxItems");
    expect_check_fail("{\"required\":\"url\"}", "/required", "\"required\"", NULL,
                      "required as string");
    expect_check_fail("{\"required\":[\"a\",\"a\"]}", "/required", "unique", NULL,
                      "duplicate required");
    expect_check_fail("{\"properties\":[]}", "/properties", "\"properties\" must be an object", NULL,
                      "properties as array");
    expect_check_fail("{\"properties\":{\"a\":3}}", "/properties/a", "object or a boolean", NULL,
                      "property schema not a schema");
    expect_check_fail("{\"uniqueItems\":\"yes\"}", "/uniqueItems", "boolean", NULL,
                      "uniqueItems not boolean");
    expect_check_fail("{\"enum\":{}}", "/enum", "array", NULL, "enum not array");
    expect_check_fail("{\"minimum\":\"1\"}", "/minimum", "number", NULL, "minimum as string");
    expect_check_fail("{\"additionalProperties\":\"no\"}", "/additionalProperties", "schema", NULL,
                      "additionalProperties as string");
    expect_check_fail("42", "", "object or a boolean", NULL, "schema that is a number");
    {
        js_error err;
        t_ok(jsonschema_check(NULL, &err) == -1, "check rejects NULL schema");
        json_t *s = J("{\"pattern\":\"x\"}");
        t_ok(jsonschema_check(s, NULL) == -1, "check works with NULL err");
        json_decref(s);
    }

    expect_check_ok(PACK_SCHEMA, "typical pack schema");
    expect_check_ok("true", "boolean schema true");
    expect_check_ok("false", "boolean schema false");
    expect_check_ok("{}", "empty schema");
    expect_check_ok("{\"title\":\"t\",\"description\":\"d\",\"default\":{\"$ref\":\"nope\"},"
                    "\"examples\":[{\"pattern\":1}],\"$comment\":\"c\","
                    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                    "\"$id\":\"https://example.invalid/s\",\"format\":\"uri\",\"readOnly\":true,"
                    "\"writeOnly\":false,\"deprecated\":false,\"x-helmdeck-ui\":{\"pattern\":\"x\"}}",
                    "annotations and x- keys (contents not inspected)");
    expect_check_ok("{\"properties\":{\"pattern\":{\"type\":\"string\"},\"$ref\":{},\"anyOf\":true}}",
                    "property names that look like keywords");
    expect_check_ok("{\"minLength\":2.0,\"maxItems\":0,\"minProperties\":1.0}",
                    "integer-valued decimals for counts");
    expect_check_ok("{\"type\":[]}", "empty type array (matches nothing)");
    expect_check_ok("{\"const\":{\"$ref\":1},\"enum\":[{\"anyOf\":2}]}",
                    "const/enum values are data, not schemas");
}

static void test_validate_errors(void)
{
    expect_invalid(PACK_SCHEMA, "{}", "", "missing required property \"url\"", 0,
                   "missing required: root path, property named");
    expect_invalid(PACK_SCHEMA, "{\"url\":5}", "/url", "expected type string, got integer", 0,
                   "wrong type: path and message");
    expect_invalid(PACK_SCHEMA, "{\"url\":\"\"}", "/url", "too short", 1, "empty url below minLength");
    expect_invalid(PACK_SCHEMA, "{\"url\":\"https://x\",\"extra\":1}", "/extra",
                   "additional property \"extra\" is not allowed", 0, "additionalProperties false");
    expect_invalid(PACK_SCHEMA, "{\"url\":\"u\",\"width\":0}", "/width", "value 0 is less than minimum 1",
                   0, "below minimum");
    expect_invalid(PACK_SCHEMA, "{\"url\":\"u\",\"width\":8193}", "/width",
                   "value 8193 is greater than maximum 8192", 0, "above maximum");
    expect_invalid(PACK_SCHEMA, "{\"url\":\"u\",\"width\":1.5}", "/width",
                   "expected type integer, got number", 0, "fractional width is not an integer");
    expect_invalid(PACK_SCHEMA, "[\"url\"]", "", "expected type object, got array", 0,
                   "array instead of object");
    expect_valid(PACK_SCHEMA, "{\"url\":\"https://example.com\",\"width\":800}", "typical valid input");
    expect_valid(PACK_SCHEMA, "{\"url\":\"u\",\"width\":1.0}", "1.0 counts as integer");
    expect_valid(PACK_SCHEMA, "{\"url\":\"u\",\"width\":8192}", "maximum boundary inclusive");

    expect_invalid("{\"properties\":{\"mode\":{\"enum\":[\"fast\",\"slow\"]}}}", "{\"mode\":\"medium\"}",
                   "/mode", "value is not one of the allowed enum values", 0, "enum miss");
    expect_valid("{\"enum\":[1,\"a\",null]}", "1.0", "enum matches 1 with 1.0");
    expect_invalid("{\"enum\":[0]}", "false", "", "enum", 1, "enum: false is not 0");
    expect_invalid("{\"const\":{\"a\":[1,{\"b\":null}]}}", "{\"a\":[1,{\"b\":false}]}", "",
                   "value does not match const", 0, "const deep mismatch");
    expect_valid("{\"const\":{\"a\":[1,{\"b\":null}],\"c\":2}}", "{\"c\":2.0,\"a\":[1.0,{\"b\":null}]}",
                 "const deep equal, key order and 2 == 2.0");
    expect_invalid("{\"const\":9007199254740993}", "9007199254740992", "", "const", 1,
                   "const compares large integers exactly");

    /* code points, not bytes */
    expect_valid("{\"maxLength\":3}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"",
                 "3 CJK chars (9 bytes) fit maxLength 3");
    expect_invalid("{\"properties\":{\"t\":{\"maxLength\":3}}}",
                   "{\"t\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e!\"}", "/t",
                   "string is too long: 4 characters, maxLength is 3", 0,
                   "too long multi-byte string counted in code points");
    expect_valid("{\"maxLength\":1}", "\"\xf0\x9f\x98\x80\"", "one emoji (4 bytes) is 1 character");
    expect_invalid("{\"minLength\":2}", "\"\xc3\xa9\"", "", "string is too short: 1 character,", 1,
                   "2-byte char is one code point for minLength");

    /* nested paths */
    const char *nested =
        "{\"type\":\"object\",\"properties\":{"
        "\"fields\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\","
        "\"required\":[\"selector\"],\"properties\":{\"selector\":{\"type\":\"string\"}}}},"
        "\"rows\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
        "{\"name\":{\"type\":\"string\"}}}}}}";
    expect_invalid(nested, "{\"fields\":{\"title\":{\"selector\":7}}}", "/fields/title/selector",
                   "expected type string, got integer", 0, "path through additionalProperties");
    expect_invalid(nested, "{\"fields\":{\"title\":{}}}", "/fields/title",
                   "missing required property \"selector\"", 0, "missing required in nested object");
    expect_invalid(nested, "{\"rows\":[{\"name\":\"a\"},{\"name\":2}]}", "/rows/1/name",
                   "expected type string, got integer", 0, "nested object in array");
    expect_invalid("{\"properties\":{\"a/b~c\":{\"type\":\"null\"}}}", "{\"a/b~c\":1}", "/a~1b~0c",
                   "expected type null, got integer", 0, "JSON pointer escapes ~ and /");
    expect_invalid("{\"properties\":{\"bar\":false}}", "{\"bar\":1}", "/bar",
                   "value is not allowed (schema is false)", 0, "false subschema");
    expect_invalid("false", "null", "", "value is not allowed (schema is false)", 0,
                   "false root schema");
    expect_invalid("{\"type\":[\"string\",\"null\"]}", "3", "", "expected type string or null, got integer",
                   0, "type list in message");
    expect_invalid("{\"type\":[\"string\",\"array\",\"null\"]}", "true", "",
                   "expected type string, array or null, got boolean", 0, "type list of three");
    expect_invalid("{\"exclusiveMinimum\":0}", "0", "", "value 0 is not greater than exclusiveMinimum 0",
                   0, "exclusiveMinimum boundary");
    expect_invalid("{\"exclusiveMaximum\":1.5}", "1.5", "",
                   "value 1.5 is not less than exclusiveMaximum 1.5", 0, "exclusiveMaximum boundary");
    expect_valid("{\"exclusiveMaximum\":1.5}", "1", "below exclusiveMaximum");
    expect_invalid("{\"minItems\":2}", "[1]", "", "array has 1 item, minItems is 2", 0, "minItems");
    expect_invalid("{\"maxItems\":1}", "[1,2]", "", "array has 2 items, maxItems is 1", 0, "maxItems");
    expect_invalid("{\"minProperties\":1}", "{}", "", "object has 0 properties, minProperties is 1", 0,
                   "minProperties");
    expect_invalid("{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", "",
                   "object has 2 properties, maxProperties is 1", 0, "maxProperties");
    expect_invalid("{\"maxProperties\":0}", "{\"a\":1}", "", "object has 1 property, maxProperties is 0",
                   0, "maxProperties 0, singular wording");
    expect_invalid("{\"items\":{\"uniqueItems\":true}}", "[[1,2],[1,\"x\",1.0]]", "/1",
                   "array items 0 and 2 are equal (uniqueItems)", 0, "uniqueItems small array, 1 == 1.0");
    expect_valid("{\"uniqueItems\":true}", "[1,true,\"1\",[1],{\"a\":1},null,0,false]",
                 "uniqueItems distinguishes types");
}

static void test_unique_large(void)
{
    json_t *s = J("{\"uniqueItems\":true}");
    json_t *a = json_array();
    js_error err;
    for (int i = 0; i < 2000; i++)
        json_array_append_new(a, i % 3 ? json_integer(i) : json_pack("{s:i,s:[i]}", "k", i, "l", i));
    t_ok(jsonschema_validate(s, a, &err) == 0, "uniqueItems 2000 distinct items (hash path)");
    json_array_append_new(a, json_real(1000.0)); /* equal to integer 1000 at index 1000 */
    int rc = jsonschema_validate(s, a, &err);
    t_ok(rc == -1 && strcmp(err.msg, "array items 1000 and 2000 are equal (uniqueItems)") == 0,
         "uniqueItems large array finds 1000 == 1000.0");
    json_array_set_new(a, 2000, json_pack("{s:[i],s:i}", "l", 999, "k", 999));
    rc = jsonschema_validate(s, a, &err);
    t_ok(rc == -1 && strcmp(err.msg, "array items 999 and 2000 are equal (uniqueItems)") == 0,
         "uniqueItems large array, objects equal regardless of key order");
    if (rc != -1 || strstr(err.msg, "999") == NULL)
        printf("#   msg=\"%s\"\n", err.msg);
    json_decref(a);
    json_decref(s);
}

/* Builds depth nested arrays: [[[...]]] */
static json_t *deep_array(int depth)
{
    json_t *v = json_array();
    for (int i = 0; i < depth && v; i++) {
        json_t *outer = json_array();
        if (!outer || json_array_append_new(outer, v) != 0) {
            json_decref(v);
            json_decref(outer);
            return NULL;
        }
        v = outer;
    }
    return v;
}

/* {"items":{"items":...{}}} */
static json_t *deep_items_schema(int depth)
{
    json_t *v = json_object();
    for (int i = 0; i < depth && v; i++) {
        json_t *outer = json_object();
        if (!outer || json_object_set_new(outer, "items", v) != 0) {
            json_decref(v);
            json_decref(outer);
            return NULL;
        }
        v = outer;
    }
    return v;
}

static void test_deep(void)
{
    js_error err;
    json_t *inst = deep_array(10000);
    if (!inst) {
        printf("Bail out! out of memory building deep array\n");
        exit(2);
    }
    json_t *yes = json_true();
    t_ok(jsonschema_validate(yes, inst, &err) == 0, "10000 nested arrays against true");

    json_t *deep = deep_items_schema(10000);
    t_ok(jsonschema_check(deep, &err) == -1 && strstr(err.msg, "nesting too deep"),
         "check rejects 10000-deep items schema");
    int rc = jsonschema_validate(deep, inst, &err);
    t_ok(rc == -1 && strcmp(err.msg, "nesting too deep") == 0,
         "validate (unchecked) 10000-deep schema vs 10000-deep instance: nesting too deep");
    t_ok(strlen(err.path) < sizeof(err.path) && strstr(err.path, "/0/0/0") == err.path,
         "deep error path is a bounded /0/0/... pointer");

    json_t *ok50 = deep_items_schema(50);
    t_ok(jsonschema_check(ok50, &err) == 0, "check accepts 50-deep items schema");
    t_ok(jsonschema_validate(ok50, inst, &err) == 0, "50-deep schema vs 10000-deep instance is valid");

    json_t *typed = J("{\"items\":{\"items\":{\"type\":\"string\"}}}");
    rc = jsonschema_validate(typed, inst, &err);
    t_ok(rc == -1 && strcmp(err.path, "/0/0") == 0, "shallow typed schema fails at /0/0");

    /* equality on deep values must not recurse unboundedly */
    json_t *uniq = J("{\"uniqueItems\":true}");
    json_t *pair = json_array();
    json_array_append(pair, inst);
    json_array_append_new(pair, deep_array(10000));
    rc = jsonschema_validate(uniq, pair, &err);
    t_ok(rc == -1 && strcmp(err.msg, "nesting too deep") == 0,
         "uniqueItems on two 10000-deep arrays reports nesting too deep");
    json_t *cst = json_pack("{s:O}", "const", inst);
    rc = jsonschema_validate(cst, inst, &err);
    t_ok(rc == -1 && strcmp(err.msg, "nesting too deep") == 0, "const with 10000-deep value bounded");

    /* deep objects through additionalProperties */
    json_t *obj = json_object();
    for (int i = 0; i < 5000; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "k", obj);
        obj = o;
    }
    json_t *ap = json_object();
    for (int i = 0; i < 5000; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "additionalProperties", ap);
        ap = o;
    }
    rc = jsonschema_validate(ap, obj, &err);
    t_ok(rc == -1 && strcmp(err.msg, "nesting too deep") == 0,
         "5000-deep additionalProperties chain bounded");

    json_decref(obj);
    json_decref(ap);
    json_decref(cst);
    json_decref(pair);
    json_decref(uniq);
    json_decref(typed);
    json_decref(ok50);
    json_decref(deep);
    json_decref(yes);
    json_decref(inst);
}

static void test_hostile(void)
{
    js_error err;
    /* long key: pointer truncated with "...", never overflows */
    char key[400];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *s = json_pack("{s:{s:{s:s}}}", "properties", key, "type", "string");
    json_t *i = json_pack("{s:i}", key, 1);
    int rc = jsonschema_validate(s, i, &err);
    size_t pl = strlen(err.path);
    t_ok(rc == -1 && pl == sizeof(err.path) - 1 && strcmp(err.path + pl - 3, "...") == 0,
         "overlong path is truncated with ...");
    json_decref(s);
    json_decref(i);

    /* key with quotes/control chars is escaped in messages */
    expect_invalid("{\"additionalProperties\":false}", "{\"a\\\"b\\nc\":1}", "/a\"b\nc",
                   "additional property \"a\\\"b\\u000ac\" is not allowed", 0,
                   "hostile key escaped in message");
    /* embedded NUL in keys and strings */
    expect_invalid("{\"required\":[\"a\\u0000b\"]}", "{\"a\":1}", "", "missing required property \"a\\u0000b\"",
                   0, "required key with NUL is not confused with prefix");
    {
        /* jansson's parser refuses NUL in keys, but the API can create them */
        json_t *rs = J("{\"required\":[\"a\\u0000b\"],\"additionalProperties\":{\"type\":\"string\"}}");
        json_t *ri = json_object();
        json_object_setn_new(ri, "a\0b", 3, json_integer(1));
        rc = jsonschema_validate(rs, ri, &err);
        t_ok(rc == -1 && strcmp(err.path, "/a\\u0000b") == 0 &&
                 strcmp(err.msg, "expected type string, got integer") == 0,
             "key with NUL found by required and shown escaped in path");
        json_decref(ri);
        json_decref(rs);
    }
    expect_invalid("{\"maxLength\":2}", "\"a\\u0000b\"", "", "too long: 3 characters", 1,
                   "NUL counted as a character");

    /* validate never silently ignores an unsupported keyword */
    s = J("{\"pattern\":\"^a\"}");
    i = J("\"b\"");
    rc = jsonschema_validate(s, i, &err);
    t_ok(rc == -1 && strstr(err.msg, "unsupported keyword \"pattern\""),
         "validate refuses unchecked unsupported keyword");
    json_decref(s);
    json_decref(i);

    /* malformed values in an unchecked schema are errors, not crashes */
    const char *bad[] = {"{\"type\":5}",          "{\"required\":[1]}", "{\"minLength\":\"x\"}",
                         "{\"items\":[{}]}",       "{\"properties\":3}", "{\"enum\":1}",
                         "{\"additionalProperties\":1}", "7"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        s = J(bad[k]);
        i = J("{\"a\":[\"x\"]}");
        json_t *i2 = J("\"x\"");
        json_t *i3 = J("[1]");
        int r1 = jsonschema_validate(s, i, &err), r2 = jsonschema_validate(s, i2, &err),
            r3 = jsonschema_validate(s, i3, &err);
        /* each malformed keyword is reported for an instance it applies to */
        t_ok(r1 == -1 || r2 == -1 || r3 == -1, "unchecked malformed schema %s is an error", bad[k]);
        json_decref(s);
        json_decref(i);
        json_decref(i2);
        json_decref(i3);
    }

    s = J("{}");
    t_ok(jsonschema_validate(s, NULL, &err) == -1, "NULL instance is an error");
    t_ok(jsonschema_validate(NULL, s, &err) == -1, "NULL schema is an error");
    i = J("1");
    json_t *t = J("{\"type\":\"string\"}");
    t_ok(jsonschema_validate(t, i, NULL) == -1, "validate works with NULL err");
    t_ok(jsonschema_validate(s, i, &err) == 0 && err.path[0] == '\0' && err.msg[0] == '\0',
         "valid result leaves err empty");
    json_decref(t);
    json_decref(i);
    json_decref(s);
}

int main(void)
{
    test_check();
    test_validate_errors();
    test_unique_large();
    test_deep();
    test_hostile();
    printf("1..%d\n", t_num);
    printf("# jsonschema unit: %d passed, %d failed\n", t_num - t_failed, t_failed);
    return t_failed == 0 ? 0 : 1;
}
