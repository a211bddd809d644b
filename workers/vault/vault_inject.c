/*
 * The vault puts a secret into a browser session itself: for one call the
 * supervisor lends it the session's CDP socket, while the pack's worker
 * waits. Cookies go in with Storage.setCookies before a navigation; a
 * login is typed (Input.insertText) into the fields a selector names, on
 * a page whose own location matches the credential's host pattern. The
 * worker never receives a value: it gets counts and names.
 *
 * The page's scripts run in the browser, not here: a script the caller
 * planted on a matching site could read a typed field. The host pattern is
 * what keeps a login away from every other site.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "vault.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "ipc/proto_json.h"
#include "workers/packs/cdp.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INJECT_STEP_MS 3000

static void inject_reply(struct chan *c, uint32_t id, int status, json_t *body)
{
	chan_send_json(c, MSG_VAULT_INJECTED, id, status, body);
}

static void inject_error(struct chan *c, uint32_t id, int status, const char *code, const char *msg)
{
	inject_reply(c, id, status, json_error_body(code, msg));
}

/* host and path of an http(s) URL, by libcurl's parser (pure: no I/O) */
static int inject_url(const char *url, char *host, size_t hl, char *path, size_t pl)
{
	CURLU *u = curl_url();
	char *h = NULL, *p = NULL, *s = NULL;
	int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK && (!strcmp(s, "http") || !strcmp(s, "https")) &&
		 curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK;
	if (ok) {
		snprintf(host, hl, "%s", h);
		for (char *q = host; *q; q++)
			*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
		snprintf(path, pl, "%s", p);
	}
	curl_free(h);
	curl_free(p);
	curl_free(s);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}


static size_t inject_buf_len;

static uint8_t *inject_buf(void) { return secmem_alloc(CS_SECRET_MAX, &inject_buf_len); }

static void inject_buf_free(uint8_t *b) { secmem_free(b, inject_buf_len); }

/* Wipe every string value in a JSON tree before it is freed. */
static void inject_wipe(json_t *v)
{
	if (json_is_string(v)) {
		explicit_bzero((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
			inject_wipe(x);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			inject_wipe(x);
	}
}

static void inject_cookies(struct chan *ch, uint32_t id, const struct p_vault_req *m, int fd, const char *host,
			   const char *path)
{
	/* a site with no cookie stored leaves no trace in the usage log */
	if (!cs_has_target(vault_creds_store(), "cookie", host, path)) {
		inject_reply(ch, id, 200, json_pack("{s:i}", "injected", 0));
		return;
	}
	uint8_t *buf = inject_buf();
	size_t n = 0;
	struct cs_cred meta;
	char reason[256] = "";
	int rc = cs_resolve_host(vault_creds_store(), "cookie", host, path, m->actor, m->client, "browser.cookies", buf,
				 CS_SECRET_MAX, &n, &meta, reason, sizeof reason);
	if (rc != CS_OK) {
		inject_buf_free(buf);
		vault_audit("vault_read", m->actor, m->client, rc == CS_DENIED ? "denied" : "no_match", "credential_invalid",
			    json_pack("{s:s,s:s,s:s}", "host", host, "purpose", "browser.cookies", "reason", reason));
		/* no grant: the navigation goes on without the cookies */
		inject_reply(ch, id, 200, json_pack("{s:i,s:s}", "injected", 0, "reason", reason));
		return;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)buf, n, 0, &je);
	inject_buf_free(buf);
	json_t *arr = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
	json_t *cookies = json_array(), *names = json_array();
	size_t i;
	json_t *ck;
	json_array_foreach(arr, i, ck) {
		const char *nm = json_string_value(json_object_get(ck, "name"));
		const char *val = json_string_value(json_object_get(ck, "value"));
		if (!nm || !val)
			continue;
		const char *dom = json_string_value(json_object_get(ck, "domain"));
		const char *cp = json_string_value(json_object_get(ck, "path"));
		json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "name", nm, "value", val, "domain", dom ? dom : host,
				      "path", cp ? cp : "/", "httpOnly", !json_is_false(json_object_get(ck, "httpOnly")),
				      "secure", json_is_true(json_object_get(ck, "secure")));
		json_t *same = json_object_get(ck, "sameSite");
		if (json_is_string(same))
			json_object_set(c, "sameSite", same);
		json_array_append_new(cookies, c);
		json_array_append_new(names, json_string(nm));
	}
	struct cdp *cdp = cdp_open(fd);
	int crc = cdp_call(cdp, NULL, "Storage.setCookies", json_pack("{s:O}", "cookies", cookies),
			   now_ms_mono() + INJECT_STEP_MS, NULL);
	char err[256];
	snprintf(err, sizeof err, "%s", cdp_error(cdp));
	cdp_free(cdp);
	inject_wipe(cookies);
	inject_wipe(arr);
	json_decref(cookies);
	json_decref(arr);
	json_decref(j);
	vault_audit("vault_read", m->actor, m->client, crc == CDP_OK ? "allowed" : "error", crc == CDP_OK ? NULL : "internal",
		    json_pack("{s:s,s:s,s:s,s:s,s:O}", "name", meta.name, "vault_id", meta.id, "host", host, "purpose",
			      "browser.cookies", "cookies", names));
	if (crc != CDP_OK) {
		json_decref(names);
		inject_error(ch, id, 502, "handler_failed", err);
		return;
	}
	inject_reply(ch, id, 200, json_pack("{s:I,s:s,s:o}", "injected", (json_int_t)json_array_size(names), "credential",
					    meta.name, "cookies", names));
}

/* focus the element a selector names and clear it; the text goes in with
 * Input.insertText, so it never appears in an expression */
static int inject_type(struct cdp *cdp, const char *session, const char *selector, const char *text, char *err,
		       size_t elen)
{
	json_t *sel = json_string(selector);
	char *sj = json_dumps(sel, JSON_ENCODE_ANY);
	json_decref(sel);
	char *expr = xasprintf("(function(s){var e=document.querySelector(s);if(!e)return false;e.focus();"
			       "if('value' in e)e.value='';return document.activeElement===e;})(%s)", sj);
	free(sj);
	json_t *r = NULL;
	int rc = cdp_call(cdp, session, "Runtime.evaluate", json_pack("{s:s,s:b}", "expression", expr, "returnByValue", 1),
			  now_ms_mono() + INJECT_STEP_MS, &r);
	free(expr);
	int focused = rc == CDP_OK && json_is_true(json_object_get(json_object_get(r, "result"), "value"));
	json_decref(r);
	if (!focused) {
		snprintf(err, elen, rc == CDP_OK ? "no focusable element matches %s" : "%s", rc == CDP_OK ? selector : cdp_error(cdp));
		return -1;
	}
	json_t *p = json_pack("{s:s}", "text", text);
	rc = cdp_call(cdp, session, "Input.insertText", p, now_ms_mono() + INJECT_STEP_MS, NULL);
	if (rc != CDP_OK) {
		snprintf(err, elen, "%s", cdp_error(cdp));
		return -1;
	}
	return 0;
}

static void inject_login(struct chan *ch, uint32_t id, const struct p_vault_req *m, int fd, json_t *args)
{
	const char *session = m->arg;
	const char *usel = json_string_value(json_object_get(args, "username_selector"));
	const char *psel = json_string_value(json_object_get(args, "password_selector"));
	const char *ssel = json_string_value(json_object_get(args, "submit_selector"));
	if (!*session || !psel) {
		inject_error(ch, id, 400, "invalid_input", "fill_login needs a page session and password_selector");
		return;
	}
	struct cdp *cdp = cdp_open(fd);
	/* the page's own location decides which login it may get */
	json_t *r = NULL;
	char host[256] = "", path[2048] = "", err[400] = "";
	int rc = cdp_call(cdp, session, "Runtime.evaluate", json_pack("{s:s,s:b}", "expression", "location.href",
								      "returnByValue", 1),
			  now_ms_mono() + INJECT_STEP_MS, &r);
	const char *href = rc == CDP_OK ? json_string_value(json_object_get(json_object_get(r, "result"), "value")) : NULL;
	if (!href || inject_url(href, host, sizeof host, path, sizeof path) < 0) {
		json_decref(r);
		cdp_free(cdp);
		inject_error(ch, id, 400, "invalid_input", "the page is not on an http(s) URL: nothing is typed there");
		return;
	}
	json_decref(r);
	uint8_t *buf = inject_buf();
	size_t n = 0;
	struct cs_cred meta;
	char reason[256] = "";
	rc = cs_resolve_host(vault_creds_store(), "login", host, path, m->actor, m->client, "browser.login", buf,
			     CS_SECRET_MAX, &n, &meta, reason, sizeof reason);
	if (rc != CS_OK) {
		inject_buf_free(buf);
		cdp_free(cdp);
		vault_audit("vault_read", m->actor, m->client, rc == CS_DENIED ? "denied" : "no_match", "credential_invalid",
			    json_pack("{s:s,s:s,s:s}", "host", host, "purpose", "browser.login", "reason", reason));
		snprintf(err, sizeof err, "no login credential for %s may be used by this caller%s%s", host,
			 reason[0] ? ": " : "", reason);
		inject_error(ch, id, 403, "credential_invalid", err);
		return;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)buf, n, 0, &je);
	inject_buf_free(buf);
	const char *user = json_string_value(json_object_get(j, "username"));
	const char *pass = json_string_value(json_object_get(j, "password"));
	int ok = user && pass && (!usel || inject_type(cdp, session, usel, user, err, sizeof err) == 0) &&
		 inject_type(cdp, session, psel, pass, err, sizeof err) == 0;
	int submitted = 0;
	if (ok && ssel) {
		json_t *sel = json_string(ssel);
		char *sj = json_dumps(sel, JSON_ENCODE_ANY);
		json_decref(sel);
		char *expr = xasprintf("(function(s){var e=document.querySelector(s);if(!e)return false;e.click();return true;})(%s)", sj);
		free(sj);
		json_t *sr = NULL;
		if (cdp_call(cdp, session, "Runtime.evaluate", json_pack("{s:s,s:b}", "expression", expr, "returnByValue", 1),
			     now_ms_mono() + INJECT_STEP_MS, &sr) == CDP_OK)
			submitted = json_is_true(json_object_get(json_object_get(sr, "result"), "value"));
		json_decref(sr);
		free(expr);
	}
	cdp_free(cdp);
	inject_wipe(j);
	json_decref(j);
	vault_audit("vault_read", m->actor, m->client, ok ? "allowed" : "error", ok ? NULL : "handler_failed",
		    json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", meta.name, "vault_id", meta.id, "host", host, "purpose",
			      "browser.login", "submitted", submitted));
	if (!ok) {
		inject_error(ch, id, 422, "schema_mismatch", err[0] ? err : "the login credential holds no username/password");
		return;
	}
	inject_reply(ch, id, 200, json_pack("{s:s,s:s,s:b,s:b}", "credential", meta.name, "host", host, "filled", 1,
					    "submitted", submitted));
}

int vault_dispatch_inject(struct chan *c, uint32_t id, struct cursor *cur, int fd, void *arg)
{
	(void)arg;
	struct p_vault_req m;
	if (fd < 0 || p_vault_req_dec(cur, &m) < 0 || !*m.actor) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!vault_creds_store()) {
		close(fd);
		inject_error(c, id, 503, "internal", "the credential store is locked");
		return 0;
	}
	json_error_t je;
	json_t *args = json_loadb((const char *)m.body, m.body_len, 0, &je);
	const char *url = json_string_value(json_object_get(args, "url"));
	char host[256], path[2048];
	if (!strcmp(m.op, "cookies")) {
		if (!url || inject_url(url, host, sizeof host, path, sizeof path) < 0)
			inject_reply(c, id, 200, json_pack("{s:i}", "injected", 0));  /* about:, data: ... */
		else
			inject_cookies(c, id, &m, fd, host, path);
	} else if (!strcmp(m.op, "login") && args) {
		inject_login(c, id, &m, fd, args);
	} else {
		json_decref(args);
		close(fd);
		return -1;
	}
	json_decref(args);
	close(fd);
	return 0;
}
