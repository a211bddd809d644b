/* JSON Schema (draft 2020-12 subset) validator. See jsonschema.h for scope.
 *
 * Design notes:
 *  - No global state; all per-call state lives in a js_ctx on the stack.
 *  - Recursion through schemas/instances is capped at JS_MAX_DEPTH so hostile
 *    inputs cannot exhaust the stack.
 *  - Number comparisons are exact between json_integer and json_real, so
 *    1 == 1.0 and large integers are not rounded through double.
 *  - Unknown keywords are an error in both check and validate: a schema must
 *    never validate less than its author thinks it does. */
#include "jsonschema.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_MAX_DEPTH 64
#define JS_QUOTE_MAX 96 /* room for a quoted key inside a 256-byte message */

typedef struct js_ctx {
    js_error *err;
    char path[sizeof(((js_error *)0)->path)];
    size_t len;  /* bytes stored in path */
    size_t vlen; /* logical length; > len once the pointer got truncated */
} js_ctx;

typedef struct js_mark {
    size_t len, vlen;
} js_mark;

/* ---------- path (JSON pointer) handling ---------- */

static void js_ctx_init(js_ctx *c, js_error *err)
{
    c->err = err;
    c->path[0] = '\0';
    c->len = 0;
    c->vlen = 0;
    if (err) {
        err->path[0] = '\0';
        err->msg[0] = '\0';
    }
}

static js_mark js_path_mark(const js_ctx *c)
{
    js_mark m = {c->len, c->vlen};
    return m;
}

static void js_path_pop(js_ctx *c, js_mark m)
{
    c->len = m.len;
    c->vlen = m.vlen;
    c->path[c->len] = '\0';
}

static void js_path_putc(js_ctx *c, char ch)
{
    /* Keep appending logically past the buffer so truncation is detectable. */
    if (c->len == c->vlen && c->len + 1 < sizeof(c->path)) {
        c->path[c->len++] = ch;
        c->path[c->len] = '\0';
    }
    c->vlen++;
}

static void js_path_puts(js_ctx *c, const char *s)
{
    while (*s)
        js_path_putc(c, *s++);
}

/* RFC 6901 escaping: '~' -> "~0", '/' -> "~1". */
static js_mark js_path_push_key(js_ctx *c, const char *key, size_t keylen)
{
    js_mark m = js_path_mark(c);
    js_path_putc(c, '/');
    for (size_t i = 0; i < keylen; i++) {
        char ch = key[i];
        if (ch == '~')
            js_path_puts(c, "~0");
        else if (ch == '/')
            js_path_puts(c, "~1");
        else if (ch == '\0')
            js_path_puts(c, "\\u0000"); /* a C string cannot hold NUL */
        else
            js_path_putc(c, ch);
    }
    return m;
}

static js_mark js_path_push_index(js_ctx *c, size_t idx)
{
    char buf[32];
    js_mark m = js_path_mark(c);
    snprintf(buf, sizeof(buf), "/%zu", idx);
    js_path_puts(c, buf);
    return m;
}

static int js_fail(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int js_fail(js_ctx *c, const char *fmt, ...)
{
    if (!c->err)
        return -1;
    snprintf(c->err->path, sizeof(c->err->path), "%s", c->path);
    if (c->vlen > c->len) {
        size_t n = strlen(c->err->path);
        size_t at = n >= 3 ? n - 3 : 0;
        snprintf(c->err->path + at, sizeof(c->err->path) - at, "...");
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Quote a (possibly hostile) key for a message: escapes quotes and control
 * bytes, never splits a UTF-8 sequence, and truncates with "...". */
static void js_quote(char *out, size_t outsz, const char *s, size_t n)
{
    size_t pos = 0;
    if (outsz < 8) {
        if (outsz)
            out[0] = '\0';
        return;
    }
    out[pos++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        char tmp[8];
        size_t tl;
        if (b == '"' || b == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)b;
            tl = 2;
        } else if (b < 0x20 || b == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", b);
            tl = 6;
        } else {
            tl = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
            if (tl > n - i)
                tl = n - i;
            memcpy(tmp, s + i, tl);
        }
        /* reserve room for closing quote, "..." and NUL */
        if (pos + tl + 5 > outsz) {
            memcpy(out + pos, "...", 3);
            pos += 3;
            break;
        }
        memcpy(out + pos, tmp, tl);
        pos += tl;
        i += (b == '"' || b == '\\' || b < 0x20 || b == 0x7f) ? 1 : tl;
    }
    out[pos++] = '"';
    out[pos] = '\0';
}

/* ---------- jansson helpers ---------- */

/* Object iteration over a const value; jansson's iterator API is not
 * const-qualified but does not modify the object. */
typedef struct js_iter {
    void *it;
} js_iter;

static js_iter js_iter_begin(const json_t *obj)
{
    js_iter i = {json_object_iter((json_t *)obj)};
    return i;
}

static int js_iter_next(js_iter *i, const json_t *obj, const char **key, size_t *keylen,
                        const json_t **val)
{
    if (!i->it)
        return 0;
    *key = json_object_iter_key(i->it);
    *keylen = json_object_iter_key_len(i->it);
    *val = json_object_iter_value(i->it);
    i->it = json_object_iter_next((json_t *)obj, i->it);
    return 1;
}

static int js_streq(const char *key, size_t keylen, const char *lit)
{
    size_t n = strlen(lit);
    return keylen == n && memcmp(key, lit, n) == 0;
}

/* True for integral finite doubles; avoids libm. */
static int js_real_is_integral(double d)
{
    if (d != d)
        return 0;
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return d - d == 0.0; /* finite and beyond 2^53: always integral */
    return (double)(int64_t)d == d;
}

static int js_is_integer(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    return json_is_real(v) && js_real_is_integral(json_real_value(v));
}

/* Exact three-way compare of two JSON numbers (integer/real in any mix). */
static int js_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_real(a) && json_is_real(b)) {
        double x = json_real_value(a), y = json_real_value(b);
        return (x > y) - (x < y);
    }
    int flip = 0;
    if (json_is_real(a)) {
        const json_t *t = a;
        a = b;
        b = t;
        flip = 1;
    }
    /* a is integer, b is real */
    json_int_t i = json_integer_value(a);
    double r = json_real_value(b);
    int res;
    if (r != r)
        res = 0; /* cannot come from jansson; treat as incomparable */
    else if (r >= 9223372036854775808.0)
        res = -1;
    else if (r < -9223372036854775808.0)
        res = 1;
    else {
        int64_t t = (int64_t)r; /* in range: truncation is defined */
        if (i < t)
            res = -1;
        else if (i > t)
            res = 1;
        else
            res = r > (double)t ? -1 : r < (double)t ? 1 : 0;
    }
    return flip ? -res : res;
}

static void js_num_fmt(char *buf, size_t sz, const json_t *v)
{
    if (json_is_integer(v)) {
        snprintf(buf, sz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    snprintf(buf, sz, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, sz, "%.17g", d);
}

/* Non-negative integer keyword values (minLength etc.); 2.0 is accepted. */
static int js_get_count(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -1;
        *out = (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!js_real_is_integral(d) || d < 0)
            return -1;
        *out = d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)d;
        return 0;
    }
    return -1;
}

static const char *js_instance_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static const char *const js_type_names[] = {"null",   "boolean", "object", "array",
                                            "number", "string",  "integer"};

static int js_type_name_valid(const json_t *t)
{
    if (!json_is_string(t))
        return 0;
    const char *s = json_string_value(t);
    size_t n = json_string_length(t);
    for (size_t i = 0; i < sizeof(js_type_names) / sizeof(js_type_names[0]); i++)
        if (js_streq(s, n, js_type_names[i]))
            return 1;
    return 0;
}

static int js_type_matches(const json_t *t, const json_t *inst)
{
    const char *s = json_string_value(t);
    size_t n = json_string_length(t);
    if (js_streq(s, n, "integer"))
        return js_is_integer(inst);
    if (js_streq(s, n, "number"))
        return json_is_number(inst);
    return js_streq(s, n, js_instance_type(inst));
}

/* ---------- keyword tables ---------- */

static const char *const js_assertions[] = {
    "type",       "properties",       "required",         "enum",      "const",
    "minimum",    "maximum",          "exclusiveMinimum", "exclusiveMaximum",
    "minLength",  "maxLength",        "items",            "minItems",  "maxItems",
    "uniqueItems", "additionalProperties", "minProperties", "maxProperties",
};

static const char *const js_annotations[] = {
    "title",  "description", "default",  "examples",  "$comment",   "$schema",
    "$id",    "format",      "readOnly", "writeOnly", "deprecated",
};

static int js_in_list(const char *key, size_t keylen, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (js_streq(key, keylen, list[i]))
            return 1;
    return 0;
}

static int js_is_annotation(const char *key, size_t keylen)
{
    if (keylen >= 2 && key[0] == 'x' && key[1] == '-')
        return 1;
    return js_in_list(key, keylen, js_annotations,
                      sizeof(js_annotations) / sizeof(js_annotations[0]));
}

static int js_is_assertion(const char *key, size_t keylen)
{
    return js_in_list(key, keylen, js_assertions,
                      sizeof(js_assertions) / sizeof(js_assertions[0]));
}

/* ---------- equality and hashing (const, enum, uniqueItems) ---------- */

/* 1 equal, 0 different, -1 nesting too deep to decide. */
static int js_equal(const json_t *a, const json_t *b, int depth)
{
    if (depth > JS_MAX_DEPTH)
        return -1;
    if (json_is_number(a) && json_is_number(b))
        return js_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING: {
        size_t n = json_string_length(a);
        return n == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), n) == 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            int r = js_equal(json_array_get(a, i), json_array_get(b, i), depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        js_iter it = js_iter_begin(a);
        const char *k;
        size_t kl;
        const json_t *av;
        while (js_iter_next(&it, a, &k, &kl, &av)) {
            const json_t *bv = json_object_getn(b, k, kl);
            if (!bv)
                return 0;
            int r = js_equal(av, bv, depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    default:
        return 1; /* null, true, false: same type means equal */
    }
}

static uint64_t js_mix(uint64_t h, uint64_t v)
{
    /* splitmix64 finaliser over the combined value */
    uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t js_hash_bytes(uint64_t h, const char *s, size_t n)
{
    uint64_t f = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        f ^= (unsigned char)s[i];
        f *= 0x100000001b3ULL;
    }
    return js_mix(js_mix(h, f), n);
}

/* Consistent with js_equal: equal values hash equal (1 and 1.0 included). */
static uint64_t js_hash(const json_t *v, int depth)
{
    if (depth > JS_MAX_DEPTH)
        return 0;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return js_mix('n', (uint64_t)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (js_real_is_integral(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return js_mix('n', (uint64_t)(int64_t)d);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return js_mix('r', bits);
    }
    case JSON_STRING:
        return js_hash_bytes('s', json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        uint64_t h = js_mix('a', json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++)
            h = js_mix(h, js_hash(json_array_get(v, i), depth + 1));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t sum = 0; /* commutative: member order must not matter */
        js_iter it = js_iter_begin(v);
        const char *k;
        size_t kl;
        const json_t *mv;
        while (js_iter_next(&it, v, &k, &kl, &mv))
            sum += js_mix(js_hash_bytes('k', k, kl), js_hash(mv, depth + 1));
        return js_mix('o', sum);
    }
    case JSON_TRUE: return js_mix('t', 1);
    case JSON_FALSE: return js_mix('f', 0);
    case JSON_NULL: return js_mix('z', 0);
    }
    return 0;
}

typedef struct js_hent {
    uint64_t h;
    size_t idx;
} js_hent;

static int js_hent_cmp(const void *pa, const void *pb)
{
    const js_hent *a = pa, *b = pb;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Finds a pair of equal items. 0 none, 1 found (*pi < *pj), -1 too deep,
 * -2 out of memory. Hash+sort keeps large arrays from going quadratic. */
static int js_find_duplicate(const json_t *arr, size_t *pi, size_t *pj)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                int r = js_equal(json_array_get(arr, i), json_array_get(arr, j), 0);
                if (r < 0)
                    return -1;
                if (r == 1) {
                    *pi = i;
                    *pj = j;
                    return 1;
                }
            }
        return 0;
    }
    if (n > SIZE_MAX / sizeof(js_hent))
        return -2;
    js_hent *e = malloc(n * sizeof(*e));
    if (!e)
        return -2;
    for (size_t i = 0; i < n; i++) {
        e[i].h = js_hash(json_array_get(arr, i), 0);
        e[i].idx = i;
    }
    qsort(e, n, sizeof(*e), js_hent_cmp);
    int res = 0;
    for (size_t s = 0; s < n && res == 0;) {
        size_t t = s + 1;
        while (t < n && e[t].h == e[s].h)
            t++;
        for (size_t a = s; a < t && res == 0; a++)
            for (size_t b = a + 1; b < t; b++) {
                int r = js_equal(json_array_get(arr, e[a].idx), json_array_get(arr, e[b].idx), 0);
                if (r < 0) {
                    res = -1;
                    break;
                }
                if (r == 1) {
                    *pi = e[a].idx; /* sorted by idx within a run: a < b */
                    *pj = e[b].idx;
                    res = 1;
                    break;
                }
            }
        s = t;
    }
    free(e);
    return res;
}

/* ---------- jsonschema_check ---------- */

static int js_check_node(js_ctx *c, const json_t *s, int depth);

static int js_check_unique_strings(const json_t *arr, int (*valid)(const json_t *))
{
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(arr, i);
        if (!json_is_string(a) || (valid && !valid(a)))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (js_equal(a, json_array_get(arr, j), 0) == 1)
                return -1;
    }
    return 0;
}

/* "unsupported keyword X at <schema location>"; self marks the path of the
 * schema object holding the keyword. */
static int js_fail_unsupported(js_ctx *c, js_mark self, const char *quoted, const char *note)
{
    if (self.len == 0)
        return js_fail(c, "unsupported keyword %s%s at root", quoted, note);
    return js_fail(c, "unsupported keyword %s%s at %.*s%s", quoted, note, (int)self.len, c->path,
                   self.vlen > self.len ? "..." : "");
}

static int js_check_keyword(js_ctx *c, const char *k, size_t kl, const json_t *v, int depth,
                            js_mark self)
{
    uint64_t cnt;
    if (js_streq(k, kl, "type")) {
        if (json_is_string(v)) {
            if (!js_type_name_valid(v)) {
                char q[JS_QUOTE_MAX];
                js_quote(q, sizeof(q), json_string_value(v), json_string_length(v));
                return js_fail(c, "unknown type %s in keyword \"type\"", q);
            }
            return 0;
        }
        if (json_is_array(v) && js_check_unique_strings(v, js_type_name_valid) == 0)
            return 0;
        return js_fail(c, "keyword \"type\" must be a type name or an array of unique type names");
    }
    if (js_streq(k, kl, "properties")) {
        if (!json_is_object(v))
            return js_fail(c, "keyword \"properties\" must be an object");
        js_iter it = js_iter_begin(v);
        const char *pk;
        size_t pkl;
        const json_t *sub;
        while (js_iter_next(&it, v, &pk, &pkl, &sub)) {
            js_mark m = js_path_push_key(c, pk, pkl);
            if (js_check_node(c, sub, depth + 1) < 0)
                return -1;
            js_path_pop(c, m);
        }
        return 0;
    }
    if (js_streq(k, kl, "required")) {
        if (json_is_array(v) && js_check_unique_strings(v, NULL) == 0)
            return 0;
        return js_fail(c, "keyword \"required\" must be an array of unique strings");
    }
    if (js_streq(k, kl, "enum")) {
        if (!json_is_array(v))
            return js_fail(c, "keyword \"enum\" must be an array");
        return 0;
    }
    if (js_streq(k, kl, "const"))
        return 0;
    if (js_streq(k, kl, "minimum") || js_streq(k, kl, "maximum") ||
        js_streq(k, kl, "exclusiveMinimum") || js_streq(k, kl, "exclusiveMaximum")) {
        if (!json_is_number(v))
            return js_fail(c, "keyword \"%s\" must be a number", k);
        return 0;
    }
    if (js_streq(k, kl, "minLength") || js_streq(k, kl, "maxLength") ||
        js_streq(k, kl, "minItems") || js_streq(k, kl, "maxItems") ||
        js_streq(k, kl, "minProperties") || js_streq(k, kl, "maxProperties")) {
        if (js_get_count(v, &cnt) < 0)
            return js_fail(c, "keyword \"%s\" must be a non-negative integer", k);
        return 0;
    }
    if (js_streq(k, kl, "uniqueItems")) {
        if (!json_is_boolean(v))
            return js_fail(c, "keyword \"uniqueItems\" must be a boolean");
        return 0;
    }
    if (js_streq(k, kl, "items") || js_streq(k, kl, "additionalProperties")) {
        if (json_is_array(v) && js_streq(k, kl, "items"))
            return js_fail_unsupported(c, self, "\"items\"", " (array form)");
        if (!json_is_object(v) && !json_is_boolean(v))
            return js_fail(c, "keyword \"%s\" must be a schema (object or boolean)", k);
        return js_check_node(c, v, depth + 1);
    }
    /* not reached: caller only passes js_is_assertion() keywords */
    char q[JS_QUOTE_MAX];
    js_quote(q, sizeof(q), k, kl);
    return js_fail_unsupported(c, self, q, "");
}

static int js_check_node(js_ctx *c, const json_t *s, int depth)
{
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s))
        return js_fail(c, "schema must be an object or a boolean, got %s",
                       s ? js_instance_type(s) : "nothing");
    if (depth > JS_MAX_DEPTH)
        return js_fail(c, "schema nesting too deep");

    js_mark self = js_path_mark(c);
    js_iter it = js_iter_begin(s);
    const char *k;
    size_t kl;
    const json_t *v;
    while (js_iter_next(&it, s, &k, &kl, &v)) {
        if (js_is_annotation(k, kl))
            continue;
        js_mark m = js_path_push_key(c, k, kl);
        if (!js_is_assertion(k, kl)) {
            char q[JS_QUOTE_MAX];
            js_quote(q, sizeof(q), k, kl);
            return js_fail_unsupported(c, self, q, "");
        }
        if (js_check_keyword(c, k, kl, v, depth, self) < 0)
            return -1;
        js_path_pop(c, m);
    }
    return 0;
}

int jsonschema_check(const json_t *schema, js_error *err)
{
    js_ctx c;
    js_ctx_init(&c, err);
    return js_check_node(&c, schema, 0);
}

/* ---------- jsonschema_validate ---------- */

static int js_validate_node(js_ctx *c, const json_t *s, const json_t *inst, int depth);

static int js_bad_schema(js_ctx *c, const char *kw)
{
    return js_fail(c, "invalid schema: malformed value for keyword \"%s\"", kw);
}

static int js_v_type(js_ctx *c, const json_t *t, const json_t *inst)
{
    if (json_is_string(t)) {
        if (!js_type_name_valid(t))
            return js_bad_schema(c, "type");
        if (js_type_matches(t, inst))
            return 0;
        return js_fail(c, "expected type %s, got %s", json_string_value(t), js_instance_type(inst));
    }
    if (!json_is_array(t))
        return js_bad_schema(c, "type");
    size_t n = json_array_size(t);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(t, i);
        if (!js_type_name_valid(e))
            return js_bad_schema(c, "type");
        if (js_type_matches(e, inst))
            return 0;
    }
    char want[160];
    size_t pos = 0;
    want[0] = '\0';
    for (size_t i = 0; i < n && pos < sizeof(want); i++) {
        int w = snprintf(want + pos, sizeof(want) - pos, "%s%s",
                         i == 0 ? "" : (i + 1 == n ? " or " : ", "),
                         json_string_value(json_array_get(t, i)));
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    if (n == 0)
        snprintf(want, sizeof(want), "(none)");
    return js_fail(c, "expected type %s, got %s", want, js_instance_type(inst));
}

static int js_v_numeric(js_ctx *c, const json_t *s, const json_t *inst)
{
    static const struct {
        const char *kw;
        int bad_cmp; /* js_num_cmp(inst, limit) result(s) that fail */
        int strict;
        const char *rel;
    } rules[] = {
        {"minimum", -1, 0, "less than minimum"},
        {"maximum", 1, 0, "greater than maximum"},
        {"exclusiveMinimum", -1, 1, "not greater than exclusiveMinimum"},
        {"exclusiveMaximum", 1, 1, "not less than exclusiveMaximum"},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const json_t *lim = json_object_get(s, rules[i].kw);
        if (!lim)
            continue;
        if (!json_is_number(lim))
            return js_bad_schema(c, rules[i].kw);
        int r = js_num_cmp(inst, lim);
        if (r == rules[i].bad_cmp || (rules[i].strict && r == 0)) {
            char a[40], b[40];
            js_num_fmt(a, sizeof(a), inst);
            js_num_fmt(b, sizeof(b), lim);
            return js_fail(c, "value %s is %s %s", a, rules[i].rel, b);
        }
    }
    return 0;
}

static const char *js_plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static uint64_t js_utf8_codepoints(const char *s, size_t n)
{
    uint64_t cp = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            cp++;
    return cp;
}

static int js_v_count(js_ctx *c, const json_t *s, const char *minkw, const char *maxkw,
                      uint64_t have, const char *what, const char *unit)
{
    uint64_t lim;
    const json_t *v = json_object_get(s, minkw);
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, minkw);
        if (have < lim)
            return js_fail(c, "%s is too short: %llu %s%s, %s is %llu", what,
                           (unsigned long long)have, unit, js_plural(have), minkw,
                           (unsigned long long)lim);
    }
    v = json_object_get(s, maxkw);
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, maxkw);
        if (have > lim)
            return js_fail(c, "%s is too long: %llu %s%s, %s is %llu", what,
                           (unsigned long long)have, unit, js_plural(have), maxkw,
                           (unsigned long long)lim);
    }
    return 0;
}

static int js_v_object(js_ctx *c, const json_t *s, const json_t *inst, int depth)
{
    const json_t *req = json_object_get(s, "required");
    if (req) {
        if (!json_is_array(req))
            return js_bad_schema(c, "required");
        for (size_t i = 0; i < json_array_size(req); i++) {
            const json_t *name = json_array_get(req, i);
            if (!json_is_string(name))
                return js_bad_schema(c, "required");
            if (!json_object_getn(inst, json_string_value(name), json_string_length(name))) {
                char q[JS_QUOTE_MAX];
                js_quote(q, sizeof(q), json_string_value(name), json_string_length(name));
                return js_fail(c, "missing required property %s", q);
            }
        }
    }

    uint64_t have = json_object_size(inst);
    const json_t *v = json_object_get(s, "minProperties");
    uint64_t lim;
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, "minProperties");
        if (have < lim)
            return js_fail(c, "object has %llu propert%s, minProperties is %llu",
                           (unsigned long long)have, have == 1 ? "y" : "ies",
                           (unsigned long long)lim);
    }
    v = json_object_get(s, "maxProperties");
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, "maxProperties");
        if (have > lim)
            return js_fail(c, "object has %llu propert%s, maxProperties is %llu",
                           (unsigned long long)have, have == 1 ? "y" : "ies",
                           (unsigned long long)lim);
    }

    const json_t *props = json_object_get(s, "properties");
    if (props && !json_is_object(props))
        return js_bad_schema(c, "properties");
    if (props) {
        js_iter it = js_iter_begin(props);
        const char *k;
        size_t kl;
        const json_t *sub;
        while (js_iter_next(&it, props, &k, &kl, &sub)) {
            const json_t *iv = json_object_getn(inst, k, kl);
            if (!iv)
                continue;
            js_mark m = js_path_push_key(c, k, kl);
            if (js_validate_node(c, sub, iv, depth + 1) < 0)
                return -1;
            js_path_pop(c, m);
        }
    }

    const json_t *ap = json_object_get(s, "additionalProperties");
    if (ap) {
        if (!json_is_object(ap) && !json_is_boolean(ap))
            return js_bad_schema(c, "additionalProperties");
        if (json_is_true(ap))
            return 0;
        js_iter it = js_iter_begin(inst);
        const char *k;
        size_t kl;
        const json_t *iv;
        while (js_iter_next(&it, inst, &k, &kl, &iv)) {
            if (props && json_object_getn(props, k, kl))
                continue;
            js_mark m = js_path_push_key(c, k, kl);
            if (json_is_false(ap)) {
                char q[JS_QUOTE_MAX];
                js_quote(q, sizeof(q), k, kl);
                return js_fail(c, "additional property %s is not allowed", q);
            }
            if (js_validate_node(c, ap, iv, depth + 1) < 0)
                return -1;
            js_path_pop(c, m);
        }
    }
    return 0;
}

static int js_v_array(js_ctx *c, const json_t *s, const json_t *inst, int depth)
{
    size_t n = json_array_size(inst);
    uint64_t lim;
    const json_t *v = json_object_get(s, "minItems");
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, "minItems");
        if ((uint64_t)n < lim)
            return js_fail(c, "array has %zu item%s, minItems is %llu", n, js_plural(n),
                           (unsigned long long)lim);
    }
    v = json_object_get(s, "maxItems");
    if (v) {
        if (js_get_count(v, &lim) < 0)
            return js_bad_schema(c, "maxItems");
        if ((uint64_t)n > lim)
            return js_fail(c, "array has %zu item%s, maxItems is %llu", n, js_plural(n),
                           (unsigned long long)lim);
    }

    v = json_object_get(s, "uniqueItems");
    if (v) {
        if (!json_is_boolean(v))
            return js_bad_schema(c, "uniqueItems");
        size_t i = 0, j = 0;
        int r = json_is_true(v) ? js_find_duplicate(inst, &i, &j) : 0;
        if (r == 1)
            return js_fail(c, "array items %zu and %zu are equal (uniqueItems)", i, j);
        if (r == -1)
            return js_fail(c, "nesting too deep");
        if (r == -2)
            return js_fail(c, "out of memory checking uniqueItems");
    }

    const json_t *items = json_object_get(s, "items");
    if (items) {
        if (!json_is_object(items) && !json_is_boolean(items))
            return js_bad_schema(c, "items");
        if (json_is_true(items))
            return 0;
        for (size_t i = 0; i < n; i++) {
            js_mark m = js_path_push_index(c, i);
            if (js_validate_node(c, items, json_array_get(inst, i), depth + 1) < 0)
                return -1;
            js_path_pop(c, m);
        }
    }
    return 0;
}

static int js_validate_node(js_ctx *c, const json_t *s, const json_t *inst, int depth)
{
    if (json_is_true(s))
        return 0;
    if (json_is_false(s))
        return js_fail(c, "value is not allowed (schema is false)");
    if (!json_is_object(s))
        return js_fail(c, "invalid schema: must be an object or a boolean");
    if (depth > JS_MAX_DEPTH)
        return js_fail(c, "nesting too deep");

    /* Refuse rather than ignore keywords we do not implement. */
    js_iter it = js_iter_begin(s);
    const char *k;
    size_t kl;
    const json_t *v;
    while (js_iter_next(&it, s, &k, &kl, &v)) {
        if (!js_is_annotation(k, kl) && !js_is_assertion(k, kl)) {
            char q[JS_QUOTE_MAX];
            js_quote(q, sizeof(q), k, kl);
            return js_fail(c, "unsupported keyword %s in schema", q);
        }
    }

    const json_t *t = json_object_get(s, "type");
    if (t && js_v_type(c, t, inst) < 0)
        return -1;

    if ((v = json_object_get(s, "const")) != NULL) {
        int r = js_equal(inst, v, 0);
        if (r < 0)
            return js_fail(c, "nesting too deep");
        if (r == 0)
            return js_fail(c, "value does not match const");
    }

    if ((v = json_object_get(s, "enum")) != NULL) {
        if (!json_is_array(v))
            return js_bad_schema(c, "enum");
        int found = 0;
        for (size_t i = 0; i < json_array_size(v) && !found; i++) {
            int r = js_equal(inst, json_array_get(v, i), 0);
            if (r < 0)
                return js_fail(c, "nesting too deep");
            found = r;
        }
        if (!found)
            return js_fail(c, "value is not one of the allowed enum values");
    }

    switch (json_typeof(inst)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return js_v_numeric(c, s, inst);
    case JSON_STRING:
        return js_v_count(c, s, "minLength", "maxLength",
                          js_utf8_codepoints(json_string_value(inst), json_string_length(inst)),
                          "string", "character");
    case JSON_OBJECT:
        return js_v_object(c, s, inst, depth);
    case JSON_ARRAY:
        return js_v_array(c, s, inst, depth);
    default:
        return 0;
    }
}

int jsonschema_validate(const json_t *schema, const json_t *instance, js_error *err)
{
    js_ctx c;
    js_ctx_init(&c, err);
    if (!schema)
        return js_fail(&c, "invalid schema: missing");
    if (!instance)
        return js_fail(&c, "missing instance");
    return js_validate_node(&c, schema, instance, 0);
}
