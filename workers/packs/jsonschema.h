/* Minimal JSON Schema (draft 2020-12 subset) validator over jansson values.
 *
 * Deliberately small: pack input/output schemas only need structural checks,
 * and every keyword outside the supported subset is rejected by
 * jsonschema_check() so a schema can never silently validate less than its
 * author intended. Supported: boolean schemas, type, properties, required,
 * enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * minLength, maxLength (code points), items (schema form), minItems,
 * maxItems, uniqueItems, additionalProperties, minProperties, maxProperties.
 * Ignored annotations: title, description, default, examples, $comment,
 * $schema, $id, format, readOnly, writeOnly, deprecated, "x-*". */
#ifndef HD_JSONSCHEMA_H
#define HD_JSONSCHEMA_H

#include <jansson.h>

typedef struct js_error {
    char path[256]; /* JSON pointer: into the instance (validate) or schema (check); "" = root */
    char msg[256];  /* human-readable sentence */
} js_error;

/* Check a schema uses only supported keywords (recursively, through
 * properties, items, additionalProperties). 0 ok, -1 on the first unsupported
 * keyword or malformed keyword value (err->path = schema pointer). err may be
 * NULL. */
int jsonschema_check(const json_t *schema, js_error *err);

/* Validate instance against schema. 0 valid, -1 invalid (err filled with the
 * first error; err may be NULL). Meant for schemas that passed
 * jsonschema_check, but stays memory-safe on anything: unknown keywords or
 * malformed values are reported as errors, and nesting deeper than 64 levels
 * fails with "nesting too deep". */
int jsonschema_validate(const json_t *schema, const json_t *instance, js_error *err);

#endif
