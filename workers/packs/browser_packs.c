/*
 * browser.screenshot_url / web.scrape_spa / browser.interact: packs that
 * drive a chromium session over the CDP channel the supervisor lent this
 * invocation (ctx->cdp_fd). Each run opens its own page (a new target,
 * attached with a flat session), works in it and closes it, so a reused
 * session carries nothing over. Every wait ends at a deadline taken from
 * the pack's timeout minus a margin, which leaves time to close the page
 * and answer before the supervisor's own kill. The page is reached only
 * through CDP: selectors and texts travel into the page as JSON literals
 * inside fixed scripts, never spliced in as code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry.h"
#include "cdp.h"
#include "common/b64.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BR_SHOT_TIMEOUT_MS     60000u
#define BR_SCRAPE_TIMEOUT_MS   60000u
#define BR_INTERACT_TIMEOUT_MS 120000u
#define BR_MARGIN_MS           4000u   /* left to close the page and answer */
#define BR_CLOSE_MS            2000u   /* closing the page, even past the deadline */
#define BR_POLL_MS             100u
#define BR_WAIT_DEFAULT_MS     5000u   /* a selector wait without timeout_ms */
#define BR_SLEEP_DEFAULT_MS    1000u   /* "wait" without a selector or timeout_ms */
#define BR_VIEW_W              1280
#define BR_VIEW_H              800
#define BR_FULL_MAX_H          16384   /* chromium's largest capture surface */
#define BR_DETAIL_MAX          480     /* of err_detail's 512, after the worker's "pack:" */

/* ---------- one page in the session ---------- */

struct br_page {
	struct pack_ctx *ctx;
	struct cdp *c;
	char target[128];
	char session[128];
	uint64_t deadline;
	int keep;   /* a pinned session's page: detach at the end, do not close */
};

static uint64_t br_min(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Sets the typed error for a failed CDP exchange; returns -1. */
static int br_cdp_fail(struct br_page *p, int rc, const char *what)
{
	const char *why = cdp_error(p->c);
	switch (rc) {
	case CDP_TIMEOUT:
		pack_fail(p->ctx, "timeout", "%s: %s", what, why);
		break;
	case CDP_CLOSED:
		pack_fail(p->ctx, "session_unavailable", "%s: %s", what, why);
		break;
	default:
		pack_fail(p->ctx, "handler_failed", "%s: %s", what, why);
		break;
	}
	return -1;
}

/* A call in the page's session; -1 with the error set. */
static int br_call(struct br_page *p, const char *method, json_t *params, uint64_t deadline, json_t **result)
{
	int rc = cdp_call(p->c, p->session[0] ? p->session : NULL, method, params, deadline, result);
	return rc == CDP_OK ? 0 : br_cdp_fail(p, rc, method);
}

static int br_copy_id(char *dst, size_t cap, const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) >= cap)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* A fresh page with its own flat session. -1 with the error set; the page
 * is closed by br_close either way. */
static int br_open(struct br_page *p, struct pack_ctx *ctx, uint32_t timeout_ms)
{
	*p = (struct br_page){.ctx = ctx, .deadline = now_ms_mono() + timeout_ms - BR_MARGIN_MS};
	if (ctx->cdp_fd < 0) {
		pack_fail(ctx, "session_unavailable", "this worker was handed no browser session");
		return -1;
	}
	p->c = cdp_open(ctx->cdp_fd);
	cdp_watch(p->c, "Page.loadEventFired");
	cdp_watch(p->c, "Target.detachedFromTarget");
	json_t *r = NULL;
	int bad = 1;
	if (ctx->session_id) {
		/* a session the caller keeps: its page (and what is loaded in it)
		 * carries over from one call to the next */
		if (br_call(p, "Target.getTargets", NULL, p->deadline, &r) < 0)
			return -1;
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(r, "targetInfos"), i, t) {
			if (bad && !strcmp(json_string_value(json_object_get(t, "type")) ?: "", "page"))
				bad = br_copy_id(p->target, sizeof p->target, json_object_get(t, "targetId"));
		}
		json_decref(r);
		r = NULL;
		p->keep = !bad;
	}
	if (bad) {
		if (br_call(p, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"), p->deadline, &r) < 0)
			return -1;
		bad = br_copy_id(p->target, sizeof p->target, json_object_get(r, "targetId"));
		json_decref(r);
		p->keep = ctx->session_id != NULL;
	}
	if (bad) {
		pack_fail(ctx, "handler_failed", "Target.createTarget: the browser returned no usable targetId");
		return -1;
	}
	if (br_call(p, "Target.attachToTarget", json_pack("{s:s,s:b}", "targetId", p->target, "flatten", 1),
		    p->deadline, &r) < 0)
		return -1;
	bad = br_copy_id(p->session, sizeof p->session, json_object_get(r, "sessionId"));
	json_decref(r);
	if (bad) {
		pack_fail(ctx, "handler_failed", "Target.attachToTarget: the browser returned no usable sessionId");
		return -1;
	}
	/* Inspector.enable so a crashed renderer is reported, not waited out */
	if (br_call(p, "Page.enable", NULL, p->deadline, NULL) < 0 ||
	    br_call(p, "Inspector.enable", NULL, p->deadline, NULL) < 0)
		return -1;
	return 0;
}

/* Close our page (a short budget of its own) and free the client. The
 * answer to closeTarget comes before the page is gone; its session's
 * detach comes after, so waiting for it leaves a reused session clean. */
static void br_close(struct br_page *p)
{
	if (!p->c)
		return;
	uint64_t until = now_ms_mono() + BR_CLOSE_MS;
	json_t *r = NULL;
	if (p->keep && p->session[0]) {
		/* leave the page for the session's next call */
		cdp_call(p->c, NULL, "Target.detachFromTarget", json_pack("{s:s}", "sessionId", p->session), until, &r);
	} else if (p->target[0] &&
	    cdp_call(p->c, NULL, "Target.closeTarget", json_pack("{s:s}", "targetId", p->target), until, &r) == CDP_OK) {
		while (p->session[0]) {
			json_t *ev = NULL;
			if (cdp_wait_event(p->c, NULL, "Target.detachedFromTarget", until, &ev) != CDP_OK)
				break;
			const char *sid = json_string_value(json_object_get(ev, "sessionId"));
			int ours = sid && !strcmp(sid, p->session);
			json_decref(ev);
			if (ours)
				break;
		}
	}
	json_decref(r);
	cdp_free(p->c);
	p->c = NULL;
}

static int br_set_viewport(struct br_page *p, int w, int h)
{
	return br_call(p, "Emulation.setDeviceMetricsOverride",
		       json_pack("{s:i,s:i,s:i,s:b}", "width", w, "height", h, "deviceScaleFactor", 1, "mobile", 0),
		       p->deadline, NULL);
}

/* Sleep until min(now + ms, deadline) while the channel is watched; -1
 * with the error set when the browser goes away. */
static int br_sleep(struct br_page *p, uint64_t ms, uint64_t deadline)
{
	int rc = cdp_idle(p->c, br_min(now_ms_mono() + ms, deadline));
	return rc == CDP_OK ? 0 : br_cdp_fail(p, rc, "waiting");
}

/* http, https, file, data and about only: no javascript:, chrome: or
 * devtools: pages. */
static int br_url_ok(const char *u)
{
	static const char *const schemes[] = {"http://", "https://", "file://", "data:", "about:"};
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (!strncasecmp(u, schemes[i], strlen(schemes[i])))
			return 1;
	return 0;
}

/* Navigate and wait for the load event until load_deadline. -1 with the
 * error set: invalid_input when chromium could not navigate, timeout when
 * the page did not finish loading in time. */
static int br_navigate(struct br_page *p, const char *url, uint64_t load_deadline)
{
	load_deadline = br_min(load_deadline, p->deadline);
	uint64_t start = now_ms_mono();
	/* the caller's cookies for that site go in first, put there by the
	 * vault itself: this worker never holds them */
	if (p->ctx->inject) {
		json_t *args = json_pack("{s:s}", "url", url), *resp = NULL;
		int rc = p->ctx->inject(p->ctx, "cookies", NULL, args, &resp);
		json_decref(args);
		json_decref(resp);
		if (rc < 0)
			return -1;
	}
	cdp_discard(p->c, "Page.loadEventFired");
	json_t *r = NULL;
	int rc = cdp_call(p->c, p->session, "Page.navigate", json_pack("{s:s}", "url", url), load_deadline, &r);
	if (rc == CDP_TIMEOUT) {
		pack_fail(p->ctx, "timeout", "%s did not answer within %llu ms", url,
			  (unsigned long long)(load_deadline - start));
		return -1;
	}
	if (rc == CDP_REMOTE) {  /* e.g. "Cannot navigate to invalid URL" */
		pack_fail(p->ctx, "invalid_input", "navigation failed: %s", cdp_error(p->c));
		return -1;
	}
	if (rc != CDP_OK)
		return br_cdp_fail(p, rc, "Page.navigate");
	const char *err = json_string_value(json_object_get(r, "errorText"));
	int same_document = !json_object_get(r, "loaderId");
	if (err && *err) {
		pack_fail(p->ctx, "invalid_input", "navigation failed: %s (%s)", err, url);
		json_decref(r);
		return -1;
	}
	json_decref(r);
	if (same_document)  /* a fragment change: no new document, no load event */
		return 0;
	rc = cdp_wait_event(p->c, p->session, "Page.loadEventFired", load_deadline, NULL);
	if (rc == CDP_TIMEOUT) {
		pack_fail(p->ctx, "timeout", "%s did not finish loading within %llu ms", url,
			  (unsigned long long)(load_deadline - start));
		return -1;
	}
	return rc == CDP_OK ? 0 : br_cdp_fail(p, rc, "waiting for the page to load");
}

/* ---------- scripts in the page ---------- */

enum br_eval_rc { BR_EVAL_OK, BR_EVAL_THREW, BR_EVAL_RETRY, BR_EVAL_REFUSED, BR_EVAL_FAILED };

/* Chromium's answers while a navigation replaces the document: the
 * script never ran, and will once the new context is there. */
static int br_no_context(const char *why)
{
	return strstr(why, "context") || strstr(why, "navigated");
}

/* Runtime.evaluate by value. THREW: the script raised (text in exc);
 * RETRY: no context to run in yet; REFUSED: chromium answered with an
 * error, e.g. a value it cannot return (text in exc); FAILED: the error
 * is set. */
static int br_eval(struct br_page *p, const char *expr, uint64_t deadline, uint32_t js_timeout_ms, json_t **value,
		   char *exc, size_t exclen)
{
	*value = NULL;
	json_t *params = json_pack("{s:s,s:b,s:b}", "expression", expr, "returnByValue", 1, "awaitPromise", 1);
	if (!params) {
		pack_fail(p->ctx, "invalid_input", "the script is not valid UTF-8");
		return BR_EVAL_FAILED;
	}
	if (js_timeout_ms)
		json_object_set_new(params, "timeout", json_integer(js_timeout_ms));
	json_t *r = NULL;
	int rc = cdp_call(p->c, p->session, "Runtime.evaluate", params, deadline, &r);
	if (rc == CDP_REMOTE) {
		snprintf(exc, exclen, "%s", cdp_error(p->c));
		return br_no_context(exc) ? BR_EVAL_RETRY : BR_EVAL_REFUSED;
	}
	if (rc != CDP_OK) {
		br_cdp_fail(p, rc, "Runtime.evaluate");
		return BR_EVAL_FAILED;
	}
	json_t *ed = json_object_get(r, "exceptionDetails");
	if (ed) {
		const char *d = json_string_value(json_object_get(json_object_get(ed, "exception"), "description"));
		const char *t = json_string_value(json_object_get(ed, "text"));
		snprintf(exc, exclen, "%s", d ? d : t ? t : "exception");
		json_decref(r);
		return BR_EVAL_THREW;
	}
	json_t *v = json_object_get(json_object_get(r, "result"), "value");
	*value = v ? json_incref(v) : json_null();
	json_decref(r);
	return BR_EVAL_OK;
}

/* Every snippet: a[0] is a CSS selector (null: the body), resolved to e;
 * a bad selector answers {bad}, any other failure {err}; the body returns
 * null while what it waits for is not there. T(e,m) is an element's
 * rendered text, trimmed, at most m characters. */
#define BR_JS_HEAD \
	"(function(a){" \
	"function T(e,m){var s=e.innerText;if(typeof s!=='string')s=e.textContent||'';s=s.trim();" \
	"return s.length>m?s.slice(0,m):s;}" \
	"var e;try{e=a[0]===null?document.body:document.querySelector(a[0]);}" \
	"catch(x){return {bad:String(x&&x.message||x).slice(0,200)};}" \
	"try{"
#define BR_JS_TAIL "}catch(x){return {err:String(x&&x.message||x).slice(0,200)};}})"

#define BR_JS_FIND   "if(!e)return null;return true;"
#define BR_JS_BOX \
	"if(!e)return null;e.scrollIntoView({block:'center',inline:'center'});var r=e.getBoundingClientRect();" \
	"return [r.left+r.width/2,r.top+r.height/2,r.width,r.height];"
#define BR_JS_FOCUS  "if(!e)return null;e.focus();var d=document.activeElement;return {focused:d===e||e.contains(d)};"
#define BR_JS_SCROLL_TO \
	"if(!e)return null;e.scrollIntoView({block:'center',inline:'center'});return [window.scrollX,window.scrollY];"
#define BR_JS_SCROLL_BY "window.scrollBy(a[1],a[2]);return [window.scrollX,window.scrollY];"
#define BR_JS_TEXT   "if(!e)return null;return {text:T(e,100000)};"
#define BR_JS_ASSERT "if(!e)return null;var t=T(e,4000000);return {ok:t.indexOf(a[1])>=0,s:t.slice(0,160)};"
#define BR_JS_INFO   "return [location.href,document.title];"

/* The expression BR_JS_HEAD body BR_JS_TAIL applied to args, a JSON array
 * (stolen) that is written out as an ASCII-only literal. */
static char *br_js(const char *body, json_t *args)
{
	char *lit = json_dumps(args, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(args);
	if (!lit)
		return NULL;
	char *js = xasprintf(BR_JS_HEAD "%s" BR_JS_TAIL "(%s)", body, lit);
	free(lit);
	return js;
}

enum br_poll_rc { BR_POLL_READY = 0, BR_POLL_LATE = 1, BR_POLL_ERR = -1 };

/* Run a snippet every BR_POLL_MS until it answers non-null (and, with
 * need_ok, an object whose "ok" is true) or until the deadline. *value is
 * the last answer (NULL if none). ERR with the error set: a bad selector,
 * a failing snippet, the browser gone. */
static int br_poll(struct br_page *p, const char *body, json_t *args, uint64_t deadline, int need_ok, json_t **value)
{
	*value = NULL;
	const char *sel = json_string_value(json_array_get(args, 0));
	char shown[160];
	snprintf(shown, sizeof shown, "%s", sel ? sel : "body");
	char *js = br_js(body, args);
	if (!js) {
		pack_fail(p->ctx, "invalid_input", "a selector or text is not valid UTF-8");
		return BR_POLL_ERR;
	}
	int out = BR_POLL_ERR;
	for (;;) {
		json_t *v = NULL;
		char exc[256];
		int rc = br_eval(p, js, p->deadline, 0, &v, exc, sizeof exc);
		if (rc == BR_EVAL_FAILED)
			break;
		if (rc == BR_EVAL_THREW || rc == BR_EVAL_REFUSED) {
			pack_fail(p->ctx, "handler_failed", "the page refused our script: %s", exc);
			break;
		}
		if (rc == BR_EVAL_OK) {
			const char *bad = json_string_value(json_object_get(v, "bad"));
			const char *err = json_string_value(json_object_get(v, "err"));
			if (bad || err) {
				if (bad)
					pack_fail(p->ctx, "invalid_input", "invalid CSS selector %s: %s", shown, bad);
				else
					pack_fail(p->ctx, "handler_failed", "the page script failed on %s: %s", shown, err);
				json_decref(v);
				break;
			}
			json_decref(*value);
			*value = v;
			if (!json_is_null(v) && (!need_ok || json_is_true(json_object_get(v, "ok")))) {
				out = BR_POLL_READY;
				break;
			}
		}
		if (now_ms_mono() >= deadline) {
			out = BR_POLL_LATE;
			break;
		}
		if (br_sleep(p, BR_POLL_MS, deadline) < 0)
			break;
	}
	free(js);
	if (out == BR_POLL_ERR) {
		json_decref(*value);
		*value = NULL;
	}
	return out;
}

/* location.href and document.title into out (url, title). */
static int br_page_info(struct br_page *p, json_t *out, int with_title)
{
	json_t *v = NULL;
	char exc[256] = "the page answered something else";
	for (;;) {
		char *js = br_js(BR_JS_INFO, json_pack("[n]"));
		int rc = br_eval(p, js, p->deadline, 0, &v, exc, sizeof exc);
		free(js);
		if (rc == BR_EVAL_OK && json_is_string(json_array_get(v, 0)))
			break;
		json_decref(v);
		v = NULL;
		if (rc == BR_EVAL_FAILED)
			return -1;
		int refused = rc == BR_EVAL_THREW || rc == BR_EVAL_REFUSED;
		if (refused || now_ms_mono() >= p->deadline) {
			pack_fail(p->ctx, refused ? "handler_failed" : "timeout", "cannot read the page's address: %s", exc);
			return -1;
		}
		if (br_sleep(p, BR_POLL_MS, p->deadline) < 0)
			return -1;
	}
	json_object_set(out, "url", json_array_get(v, 0));
	if (with_title) {
		const char *t = json_string_value(json_array_get(v, 1));
		json_object_set_new(out, "title", json_string(t ? t : ""));
	}
	json_decref(v);
	return 0;
}

static void br_echo_session(json_t *out, const struct pack_ctx *ctx)
{
	if (ctx->session_id)
		json_object_set_new(out, "_session_id", json_string(ctx->session_id));
}

/* Every pack's output ends the same way: the page's final URL (and title),
 * then _session_id for a pinned session. NULL (out freed) when the page no
 * longer answers. */
static json_t *br_finish(struct br_page *p, json_t *out, int with_title)
{
	if (br_page_info(p, out, with_title) < 0) {
		json_decref(out);
		return NULL;
	}
	br_echo_session(out, p->ctx);
	return out;
}

/* ---------- screenshots ---------- */

/* The PNG's size from its IHDR; -1 when it is not a PNG. */
static int br_png_size(const uint8_t *d, size_t n, uint32_t *w, uint32_t *h)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (n < 33 || memcmp(d, sig, 8) || memcmp(d + 12, "IHDR", 4))
		return -1;
	*w = (uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 | (uint32_t)d[18] << 8 | d[19];
	*h = (uint32_t)d[20] << 24 | (uint32_t)d[21] << 16 | (uint32_t)d[22] << 8 | d[23];
	return *w && *h ? 0 : -1;
}

/* Page.captureScreenshot (params stolen; NULL = the viewport) into the
 * artifact store: {key,name,size,...} plus the PNG's width and height, or
 * NULL with the error set. */
static json_t *br_capture(struct br_page *p, json_t *params, const char *name, uint32_t *w, uint32_t *h)
{
	if (!params)
		params = json_object();
	json_object_set_new(params, "format", json_string("png"));
	json_t *r = NULL;
	if (br_call(p, "Page.captureScreenshot", params, p->deadline, &r) < 0)
		return NULL;
	json_t *data = json_object_get(r, "data");
	const char *b64 = json_string_value(data);
	size_t blen = json_string_length(data);
	if (!b64 || !blen) {
		json_decref(r);
		return pack_fail(p->ctx, "handler_failed", "Page.captureScreenshot returned no image");
	}
	uint8_t *png = xmalloc(blen / 4 * 3 + 3);
	ssize_t n = b64_decode(b64, blen, png, 0);
	json_decref(r);
	json_t *meta = NULL;
	if (n < 0 || br_png_size(png, (size_t)n, w, h) < 0)
		pack_fail(p->ctx, "handler_failed", "Page.captureScreenshot returned something that is not a PNG");
	else
		meta = artifact_store(p->ctx, name, "image/png", png, (size_t)n);
	free(png);
	return meta;
}

/* The full page: the layout's content height at the viewport's width. */
static json_t *br_full_page_clip(struct br_page *p, int width, int height)
{
	json_t *r = NULL;
	if (br_call(p, "Page.getLayoutMetrics", NULL, p->deadline, &r) < 0)
		return NULL;
	json_t *cs = json_object_get(r, "cssContentSize");
	if (!cs)
		cs = json_object_get(r, "contentSize");
	double ch = json_number_value(json_object_get(cs, "height"));
	json_decref(r);
	/* whole pixels, rounded up; NaN and nonsense fall back to the viewport */
	if (!(ch >= height && ch <= BR_FULL_MAX_H))
		ch = ch > BR_FULL_MAX_H ? BR_FULL_MAX_H : height;
	double full = (double)(long)ch;
	if (full < ch)
		full += 1;
	return json_pack("{s:b,s:{s:i,s:i,s:i,s:f,s:i}}", "captureBeyondViewport", 1, "clip", "x", 0, "y", 0, "width",
			 width, "height", full, "scale", 1);
}

static int br_int_arg(const json_t *in, const char *key, int dflt)
{
	json_t *v = json_object_get(in, key);
	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* The wait after load; -1 with timeout when it cannot end before the deadline. */
static int br_wait_after_load(struct br_page *p, int wait_ms)
{
	if (wait_ms <= 0)
		return 0;
	if (now_ms_mono() + (uint64_t)wait_ms > p->deadline) {
		pack_fail(p->ctx, "timeout", "wait_ms=%d does not fit in the time this pack has left", wait_ms);
		return -1;
	}
	return br_sleep(p, (uint64_t)wait_ms, p->deadline);
}

static json_t *br_screenshot_url(const json_t *in, struct pack_ctx *ctx)
{
	const char *url = json_string_value(json_object_get(in, "url"));
	const json_t *fp = json_object_get(in, "full_page");
	int width = br_int_arg(in, "width", BR_VIEW_W), height = br_int_arg(in, "height", BR_VIEW_H);
	int wait_ms = br_int_arg(in, "wait_ms", 0);
	if (!url || !br_url_ok(url))
		return pack_fail(ctx, "invalid_input", "url must be an http, https, file, data or about URL");
	if (fp && !json_is_boolean(fp))
		return pack_fail(ctx, "invalid_input", "full_page must be a boolean");
	if (width < 100 || width > 4096 || height < 100 || height > 4096 || wait_ms < 0 || wait_ms > 60000)
		return pack_fail(ctx, "invalid_input", "width and height must be 100-4096, wait_ms 0-60000");
	struct br_page p;
	json_t *out = NULL, *shot = NULL;
	if (br_open(&p, ctx, BR_SHOT_TIMEOUT_MS) < 0 || br_set_viewport(&p, width, height) < 0 ||
	    br_navigate(&p, url, p.deadline) < 0 || br_wait_after_load(&p, wait_ms) < 0)
		goto done;
	json_t *params = NULL;
	if (json_is_true(fp) && !(params = br_full_page_clip(&p, width, height)))
		goto done;
	uint32_t w = 0, h = 0;
	if (!(shot = br_capture(&p, params, "screenshot.png", &w, &h)))
		goto done;
	out = json_pack("{s:O,s:O,s:I,s:I}", "artifact_key", json_object_get(shot, "key"), "size",
			json_object_get(shot, "size"), "width", (json_int_t)w, "height", (json_int_t)h);
	out = br_finish(&p, out, 1);
done:
	json_decref(shot);
	br_close(&p);
	return out;
}

/* ---------- web.scrape_spa ---------- */

#define BR_FIELDS_MAX 100

struct br_field {
	const char *name;
	const char *selector;
	const char *kind;      /* text, html, attr, number, list */
	const char *attr;      /* kind attr: the attribute's name */
	int found;
};

static int br_attr_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == ':' || *s == '.'))
			return 0;
	return 1;
}

static int br_fields_parse(struct pack_ctx *ctx, const json_t *fields, struct br_field *f, size_t *n)
{
	if (!json_is_object(fields) || json_object_size(fields) == 0 || json_object_size(fields) > BR_FIELDS_MAX) {
		pack_fail(ctx, "invalid_input", "fields must be an object of 1 to %d fields", BR_FIELDS_MAX);
		return -1;
	}
	const char *name;
	const json_t *spec;
	size_t i = 0;
	json_object_foreach((json_t *)fields, name, spec) {
		const char *sel = json_string_value(json_object_get(spec, "selector"));
		const char *fmt = json_string_value(json_object_get(spec, "format"));
		if (!*name || strlen(name) > 128) {
			pack_fail(ctx, "invalid_input", "field names must be 1 to 128 bytes");
			return -1;
		}
		if (!sel || !*sel) {
			pack_fail(ctx, "invalid_input", "fields.%s needs a selector", name);
			return -1;
		}
		f[i] = (struct br_field){.name = name, .selector = sel, .kind = fmt ? fmt : "text"};
		if (fmt && !strncmp(fmt, "attr:", 5)) {
			f[i].kind = "attr";
			f[i].attr = fmt + 5;
			if (!br_attr_name_ok(f[i].attr)) {
				pack_fail(ctx, "invalid_input", "fields.%s.format: attr:<name> needs an attribute name", name);
				return -1;
			}
		} else if (strcmp(f[i].kind, "text") && strcmp(f[i].kind, "html") && strcmp(f[i].kind, "number") &&
			   strcmp(f[i].kind, "list")) {
			pack_fail(ctx, "invalid_input", "fields.%s.format must be text, html, number, list or attr:<name>", name);
			return -1;
		}
		i++;
	}
	*n = i;
	return 0;
}

/* One pass over the fields still missing, all in one script: per field
 * {f:found, v:value} or {bad} for a selector that does not parse. number
 * is the first number in the text (1,234.5 reads as 1234.5); list is the
 * text of every match (at most 1000). */
#define BR_JS_SCRAPE \
	"(function(spec){" \
	"function T(e,m){var s=e.innerText;if(typeof s!=='string')s=e.textContent||'';s=s.trim();" \
	"return s.length>m?s.slice(0,m):s;}" \
	"var out=[];for(var i=0;i<spec.length;i++){var s=spec[i],r={f:false};try{" \
	"if(s[1]==='list'){var l=document.querySelectorAll(s[0]);if(l.length){r.f=true;r.v=[];" \
	"for(var j=0;j<l.length&&j<1000;j++)r.v.push(T(l[j],10000));}}" \
	"else{var e=document.querySelector(s[0]);if(e){" \
	"if(s[1]==='html'){r.f=true;r.v=e.outerHTML.slice(0,100000);}" \
	"else if(s[1]==='attr'){var a=e.getAttribute(s[2]);if(a!==null){r.f=true;r.v=a.slice(0,100000);}}" \
	"else if(s[1]==='number'){var m=T(e,1000).match(/[-+]?(\\d[\\d,]*)?\\.?\\d+([eE][-+]?\\d+)?/);" \
	"var n=m?parseFloat(m[0].replace(/,/g,'')):NaN;if(isFinite(n)){r.f=true;r.v=n;}}" \
	"else{r.f=true;r.v=T(e,100000);}}}" \
	"}catch(x){r.bad=String(x&&x.message||x).slice(0,200);}out.push(r);}return out;})"

static char *br_scrape_js(const struct br_field *f, size_t n)
{
	json_t *spec = json_array();
	for (size_t i = 0; i < n; i++)
		if (!f[i].found)
			json_array_append_new(spec, json_pack("[s,s,s?]", f[i].selector, f[i].kind, f[i].attr));
	char *lit = json_dumps(spec, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(spec);
	if (!lit)
		return NULL;
	char *js = xasprintf(BR_JS_SCRAPE "(%s)", lit);
	free(lit);
	return js;
}

/* Fold one pass's answers into data; -1 with the error set. */
static int br_scrape_take(struct pack_ctx *ctx, struct br_field *f, size_t n, const json_t *res, json_t *data)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (f[i].found)
			continue;
		const json_t *r = json_array_get(res, k++);
		if (!json_is_object(r)) {
			pack_fail(ctx, "handler_failed", "the page answered the extraction with something else");
			return -1;
		}
		const char *bad = json_string_value(json_object_get(r, "bad"));
		if (bad) {
			pack_fail(ctx, "invalid_input", "fields.%s: invalid CSS selector %s: %s", f[i].name, f[i].selector, bad);
			return -1;
		}
		json_t *v = json_object_get(r, "v");
		if (json_is_true(json_object_get(r, "f")) && (json_is_string(v) || json_is_number(v) || json_is_array(v))) {
			json_object_set(data, f[i].name, v);
			f[i].found = 1;
		}
	}
	return 0;
}

static json_t *br_scrape_spa(const json_t *in, struct pack_ctx *ctx)
{
	const char *url = json_string_value(json_object_get(in, "url"));
	int wait_ms = br_int_arg(in, "wait_ms", 0), timeout_ms = br_int_arg(in, "timeout_ms", (int)BR_WAIT_DEFAULT_MS);
	if (!url || !br_url_ok(url))
		return pack_fail(ctx, "invalid_input", "url must be an http, https, file, data or about URL");
	if (wait_ms < 0 || wait_ms > 60000 || timeout_ms < 0 || timeout_ms > 60000)
		return pack_fail(ctx, "invalid_input", "wait_ms and timeout_ms must be 0-60000");
	struct br_field f[BR_FIELDS_MAX];
	size_t n = 0;
	if (br_fields_parse(ctx, json_object_get(in, "fields"), f, &n) < 0)
		return NULL;
	struct br_page p;
	json_t *out = NULL, *data = json_object();
	if (br_open(&p, ctx, BR_SCRAPE_TIMEOUT_MS) < 0 || br_set_viewport(&p, BR_VIEW_W, BR_VIEW_H) < 0 ||
	    br_navigate(&p, url, p.deadline) < 0 || br_wait_after_load(&p, wait_ms) < 0)
		goto done;
	/* a single-page app renders after load: ask again until every field
	 * is there or timeout_ms has passed; what never came is missing */
	uint64_t until = br_min(now_ms_mono() + (uint64_t)timeout_ms, p.deadline);
	size_t found = 0;
	for (;;) {
		char *js = br_scrape_js(f, n);
		if (!js) {
			pack_fail(ctx, "invalid_input", "a selector is not valid UTF-8");
			goto done;
		}
		json_t *res = NULL;
		char exc[256];
		int rc = br_eval(&p, js, p.deadline, 0, &res, exc, sizeof exc);
		free(js);
		if (rc == BR_EVAL_FAILED)
			goto done;
		if (rc == BR_EVAL_THREW || rc == BR_EVAL_REFUSED) {
			pack_fail(ctx, "handler_failed", "the page refused the extraction script: %s", exc);
			goto done;
		}
		if (rc == BR_EVAL_OK) {
			int bad = br_scrape_take(ctx, f, n, res, data);
			json_decref(res);
			if (bad)
				goto done;
		}
		found = json_object_size(data);
		if (found == n || now_ms_mono() >= until)
			break;
		if (br_sleep(&p, BR_POLL_MS, until) < 0)
			goto done;
	}
	json_t *missing = json_array();
	for (size_t i = 0; i < n; i++)
		if (!f[i].found)
			json_array_append_new(missing, json_string(f[i].name));
	out = json_pack("{s:O,s:o}", "data", data, "missing", missing);
	out = br_finish(&p, out, 0);
done:
	json_decref(data);
	br_close(&p);
	return out;
}

/* ---------- browser.interact ---------- */

#define BR_ACTIONS_MAX 100

struct br_key {
	const char *name, *key, *code, *text;
	int vk;
};

static const struct br_key br_keys[] = {
	{"Enter", "Enter", "Enter", "\r", 13},
	{"Tab", "Tab", "Tab", NULL, 9},
	{"Escape", "Escape", "Escape", NULL, 27},
	{"Backspace", "Backspace", "Backspace", NULL, 8},
	{"Delete", "Delete", "Delete", NULL, 46},
	{"Space", " ", "Space", " ", 32},
	{"ArrowUp", "ArrowUp", "ArrowUp", NULL, 38},
	{"ArrowDown", "ArrowDown", "ArrowDown", NULL, 40},
	{"ArrowLeft", "ArrowLeft", "ArrowLeft", NULL, 37},
	{"ArrowRight", "ArrowRight", "ArrowRight", NULL, 39},
	{"Home", "Home", "Home", NULL, 36},
	{"End", "End", "End", NULL, 35},
	{"PageUp", "PageUp", "PageUp", NULL, 33},
	{"PageDown", "PageDown", "PageDown", NULL, 34},
};

static const struct br_key *br_key_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof br_keys / sizeof br_keys[0]; i++)
		if (!strcmp(br_keys[i].name, name))
			return &br_keys[i];
	return NULL;
}

/* What one run of actions has produced so far. */
struct br_run {
	struct br_page *p;
	json_t *steps, *screenshots, *extractions, *assertions;
	size_t index;          /* the action running now */
	const char *action;
	json_t *step;          /* its entry, filled as it goes */
};

static const char *br_s(const json_t *a, const char *k) { return json_string_value(json_object_get(a, k)); }

/* The rules the schema cannot say: which fields each action needs.
 * 0, or -1 with the message in why. */
static int br_action_check(const json_t *a, char *why, size_t whylen)
{
	const char *act = br_s(a, "action");
	if (!act) {
		snprintf(why, whylen, "action is required");
		return -1;
	}
	int needs_sel = !strcmp(act, "click") || !strcmp(act, "type") || !strcmp(act, "wait_for") ||
			!strcmp(act, "extract") || !strcmp(act, "focus");
	if (needs_sel && !br_s(a, "selector")) {
		snprintf(why, whylen, "%s needs a selector", act);
		return -1;
	}
	if ((!strcmp(act, "type") || !strcmp(act, "assert_text")) && !br_s(a, "text")) {
		snprintf(why, whylen, "%s needs text", act);
		return -1;
	}
	if (!strcmp(act, "navigate") && (!br_s(a, "url") || !br_url_ok(br_s(a, "url")))) {
		snprintf(why, whylen, "navigate needs an http, https, file, data or about url");
		return -1;
	}
	if (!strcmp(act, "press") && !br_key_find(br_s(a, "key"))) {
		snprintf(why, whylen, "press needs a key (Enter, Tab, Escape, Backspace, Delete, Space, Arrow*, Home, End, PageUp, PageDown)");
		return -1;
	}
	if (!strcmp(act, "execute") && !br_s(a, "script")) {
		snprintf(why, whylen, "execute needs a script");
		return -1;
	}
	if (!strcmp(act, "fill_login") && !br_s(a, "password_selector")) {
		snprintf(why, whylen, "fill_login needs a password_selector (selector: the username field, optional)");
		return -1;
	}
	static const char *const known[] = {"navigate", "click", "type", "press", "wait_for", "wait", "scroll",
					    "screenshot", "assert_text", "extract", "execute", "focus", "fill_login"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(act, known[i]))
			return 0;
	snprintf(why, whylen, "unknown action %s", act);
	return -1;
}

static uint64_t br_step_deadline(const struct br_run *r, const json_t *a, uint32_t dflt)
{
	json_t *t = json_object_get(a, "timeout_ms");
	uint64_t ms = json_is_integer(t) && json_integer_value(t) >= 0 ? (uint64_t)json_integer_value(t) : dflt;
	return br_min(now_ms_mono() + ms, r->p->deadline);
}

static uint32_t br_timeout_arg(const json_t *a, uint32_t dflt)
{
	json_t *t = json_object_get(a, "timeout_ms");
	return json_is_integer(t) && json_integer_value(t) >= 0 ? (uint32_t)json_integer_value(t) : dflt;
}

/* Wait for the selector's element with a snippet; a selector that never
 * matches is schema_mismatch (the page is not what the caller expected),
 * or timeout for a wait_for, whose whole point is the waiting. */
static int br_find_with(struct br_run *r, const json_t *a, const char *body, const char *late_code, json_t **value)
{
	const char *sel = br_s(a, "selector");
	uint64_t deadline = br_step_deadline(r, a, BR_WAIT_DEFAULT_MS);
	int rc = br_poll(r->p, body, json_pack("[s]", sel), deadline, 0, value);
	if (rc == BR_POLL_LATE) {
		json_decref(*value);
		*value = NULL;
		pack_fail(r->p->ctx, late_code, "no element matches %s after %u ms", sel, br_timeout_arg(a, BR_WAIT_DEFAULT_MS));
	}
	return rc == BR_POLL_READY ? 0 : -1;
}

static int br_mouse(struct br_page *p, const char *type, double x, double y, int buttons)
{
	return br_call(p, "Input.dispatchMouseEvent",
		       json_pack("{s:s,s:f,s:f,s:s,s:i,s:i}", "type", type, "x", x, "y", y, "button",
				 strcmp(type, "mouseMoved") ? "left" : "none", "buttons", buttons, "clickCount",
				 strcmp(type, "mouseMoved") ? 1 : 0),
		       p->deadline, NULL);
}

static int br_do_click(struct br_run *r, const json_t *a)
{
	json_t *box = NULL;
	if (br_find_with(r, a, BR_JS_BOX, "schema_mismatch", &box) < 0)
		return -1;
	double x = json_number_value(json_array_get(box, 0)), y = json_number_value(json_array_get(box, 1));
	double w = json_number_value(json_array_get(box, 2)), h = json_number_value(json_array_get(box, 3));
	json_decref(box);
	if (!(w > 0 && h > 0)) {
		pack_fail(r->p->ctx, "schema_mismatch", "%s matches an element with no size (hidden?)", br_s(a, "selector"));
		return -1;
	}
	return br_mouse(r->p, "mouseMoved", x, y, 0) < 0 || br_mouse(r->p, "mousePressed", x, y, 1) < 0 ||
		       br_mouse(r->p, "mouseReleased", x, y, 0) < 0
		       ? -1
		       : 0;
}

static int br_do_focus(struct br_run *r, const json_t *a)
{
	json_t *v = NULL;
	if (br_find_with(r, a, BR_JS_FOCUS, "schema_mismatch", &v) < 0)
		return -1;
	int focused = json_is_true(json_object_get(v, "focused"));
	json_decref(v);
	if (!focused) {
		pack_fail(r->p->ctx, "schema_mismatch", "%s matches an element that cannot take keyboard focus",
			  br_s(a, "selector"));
		return -1;
	}
	return 0;
}

static int br_do_type(struct br_run *r, const json_t *a)
{
	if (br_do_focus(r, a) < 0)
		return -1;
	return br_call(r->p, "Input.insertText", json_pack("{s:s}", "text", br_s(a, "text")), r->p->deadline, NULL);
}

static int br_do_press(struct br_run *r, const json_t *a)
{
	const struct br_key *k = br_key_find(br_s(a, "key"));
	if (br_s(a, "selector") && br_do_focus(r, a) < 0)
		return -1;
	/* keyDown with text is what makes Enter submit a form and Space
	 * type; the others are raw key presses */
	json_t *down = json_pack("{s:s,s:s,s:s,s:i,s:i}", "type", k->text ? "keyDown" : "rawKeyDown", "key", k->key, "code",
				 k->code, "windowsVirtualKeyCode", k->vk, "nativeVirtualKeyCode", k->vk);
	if (k->text) {
		json_object_set_new(down, "text", json_string(k->text));
		json_object_set_new(down, "unmodifiedText", json_string(k->text));
	}
	if (br_call(r->p, "Input.dispatchKeyEvent", down, r->p->deadline, NULL) < 0)
		return -1;
	return br_call(r->p, "Input.dispatchKeyEvent",
		       json_pack("{s:s,s:s,s:s,s:i,s:i}", "type", "keyUp", "key", k->key, "code", k->code,
				 "windowsVirtualKeyCode", k->vk, "nativeVirtualKeyCode", k->vk),
		       r->p->deadline, NULL);
}

static int br_do_wait(struct br_run *r, const json_t *a)
{
	json_t *v = NULL;
	if (br_s(a, "selector")) {
		if (br_find_with(r, a, BR_JS_FIND, "timeout", &v) < 0)
			return -1;
		json_decref(v);
		return 0;
	}
	uint32_t ms = br_timeout_arg(a, BR_SLEEP_DEFAULT_MS);
	if (now_ms_mono() + ms > r->p->deadline) {
		pack_fail(r->p->ctx, "timeout", "a wait of %u ms does not fit in the time this pack has left", ms);
		return -1;
	}
	return br_sleep(r->p, ms, r->p->deadline);
}

static int br_do_scroll(struct br_run *r, const json_t *a)
{
	json_t *pos = NULL;
	if (br_s(a, "selector")) {
		if (br_find_with(r, a, BR_JS_SCROLL_TO, "schema_mismatch", &pos) < 0)
			return -1;
	} else if (br_poll(r->p, BR_JS_SCROLL_BY, json_pack("[n,i,i]", br_int_arg(a, "x", 0), br_int_arg(a, "y", 0)),
			   r->p->deadline, 0, &pos) != BR_POLL_READY) {
		return -1;
	}
	json_object_set_new(r->step, "scroll_x", json_integer((json_int_t)json_number_value(json_array_get(pos, 0))));
	json_object_set_new(r->step, "scroll_y", json_integer((json_int_t)json_number_value(json_array_get(pos, 1))));
	json_decref(pos);
	return 0;
}

static int br_do_screenshot(struct br_run *r, const json_t *a)
{
	const char *nm = br_s(a, "name");
	char name[160];
	if (nm)
		snprintf(name, sizeof name, "%s%s", nm, strlen(nm) > 4 && !strcasecmp(nm + strlen(nm) - 4, ".png") ? "" : ".png");
	else
		snprintf(name, sizeof name, "step-%zu.png", r->index);
	uint32_t w, h;
	json_t *shot = br_capture(r->p, NULL, name, &w, &h);
	if (!shot)
		return -1;
	json_array_append(r->screenshots, json_object_get(shot, "key"));
	json_object_set(r->step, "artifact_key", json_object_get(shot, "key"));
	json_decref(shot);
	return 0;
}

static int br_do_assert(struct br_run *r, const json_t *a)
{
	const char *sel = br_s(a, "selector"), *text = br_s(a, "text");
	uint64_t deadline = br_step_deadline(r, a, BR_WAIT_DEFAULT_MS);
	json_t *v = NULL;
	json_t *args = sel ? json_pack("[s,s]", sel, text) : json_pack("[n,s]", text);
	int rc = br_poll(r->p, BR_JS_ASSERT, args, deadline, 1, &v);
	if (rc == BR_POLL_ERR)
		return -1;
	json_t *entry = json_pack("{s:s,s:b}", "text", text, "passed", rc == BR_POLL_READY);
	if (sel)
		json_object_set_new(entry, "selector", json_string(sel));
	json_array_append_new(r->assertions, entry);
	if (rc == BR_POLL_LATE) {
		if (!v)
			pack_fail(r->p->ctx, "schema_mismatch", "assertion failed: no element matches %s", sel ? sel : "body");
		else
			pack_fail(r->p->ctx, "schema_mismatch", "assertion failed: %s does not contain \"%s\" (it reads \"%s\")",
				  sel ? sel : "the page", text, br_s(v, "s") ? br_s(v, "s") : "");
	}
	json_decref(v);
	return rc == BR_POLL_READY ? 0 : -1;
}

static int br_do_extract(struct br_run *r, const json_t *a)
{
	json_t *v = NULL;
	if (br_find_with(r, a, BR_JS_TEXT, "schema_mismatch", &v) < 0)
		return -1;
	const char *nm = br_s(a, "name");
	json_object_set(r->extractions, nm ? nm : br_s(a, "selector"), json_object_get(v, "text"));
	json_decref(v);
	return 0;
}

static int br_do_execute(struct br_run *r, const json_t *a)
{
	uint64_t deadline = br_step_deadline(r, a, (uint32_t)(r->p->deadline - br_min(now_ms_mono(), r->p->deadline)));
	uint64_t budget = deadline - br_min(now_ms_mono(), deadline);
	json_t *v = NULL;
	char exc[256];
	for (;;) {
		/* chromium's own timeout ends a runaway script; ours ends the wait */
		uint64_t left = deadline - br_min(now_ms_mono(), deadline);
		int rc = br_eval(r->p, br_s(a, "script"), deadline + BR_POLL_MS, left ? (uint32_t)left : 1, &v, exc, sizeof exc);
		if (rc == BR_EVAL_OK)
			break;
		if (rc == BR_EVAL_FAILED)
			return -1;
		/* chromium ends a script past its timeout with an exception, or
		 * with an internal error */
		if (now_ms_mono() >= deadline) {
			pack_fail(r->p->ctx, "timeout", "the script did not finish within %llu ms: %s", (unsigned long long)budget, exc);
			return -1;
		}
		if (rc == BR_EVAL_THREW) {
			pack_fail(r->p->ctx, "invalid_input", "the script threw: %s", exc);
			return -1;
		}
		if (rc == BR_EVAL_REFUSED) {
			pack_fail(r->p->ctx, "invalid_input", "the script's value cannot be returned as JSON: %s", exc);
			return -1;
		}
		/* no context yet (a navigation is committing): the script has
		 * not run, so running it again is safe */
		if (br_sleep(r->p, BR_POLL_MS, deadline) < 0)
			return -1;
	}
	const char *nm = br_s(a, "name");
	if (nm)
		json_object_set_new(r->extractions, nm, v);
	else
		json_object_set_new(r->step, "result", v);
	return 0;
}

static int br_do_navigate(struct br_run *r, const json_t *a)
{
	json_t *t = json_object_get(a, "timeout_ms");
	uint64_t until = json_is_integer(t) ? br_step_deadline(r, a, 0) : r->p->deadline;
	if (br_navigate(r->p, br_s(a, "url"), until) < 0)
		return -1;
	return 0;
}

/* The vault types the caller's login for this page's host into the fields
 * and, with submit_selector, submits; we learn which credential it used. */
static int br_do_fill_login(struct br_run *r, const json_t *a)
{
	struct pack_ctx *ctx = r->p->ctx;
	if (!ctx->inject) {
		pack_fail(ctx, "internal", "this worker has no channel to the vault");
		return -1;
	}
	json_t *args = json_pack("{s:s}", "password_selector", br_s(a, "password_selector"));
	if (br_s(a, "selector"))
		json_object_set_new(args, "username_selector", json_string(br_s(a, "selector")));
	if (br_s(a, "submit_selector"))
		json_object_set_new(args, "submit_selector", json_string(br_s(a, "submit_selector")));
	json_t *resp = NULL;
	int rc = ctx->inject(ctx, "login", r->p->session, args, &resp);
	json_decref(args);
	if (rc < 0)
		return -1;
	json_object_set_new(r->step, "result", resp);
	return 0;
}

static int br_action_run(struct br_run *r, const json_t *a)
{
	const char *act = r->action;
	if (!strcmp(act, "fill_login"))
		return br_do_fill_login(r, a);
	if (!strcmp(act, "navigate"))
		return br_do_navigate(r, a);
	if (!strcmp(act, "click"))
		return br_do_click(r, a);
	if (!strcmp(act, "type"))
		return br_do_type(r, a);
	if (!strcmp(act, "focus"))
		return br_do_focus(r, a);
	if (!strcmp(act, "press"))
		return br_do_press(r, a);
	if (!strcmp(act, "wait_for") || !strcmp(act, "wait"))
		return br_do_wait(r, a);
	if (!strcmp(act, "scroll"))
		return br_do_scroll(r, a);
	if (!strcmp(act, "screenshot"))
		return br_do_screenshot(r, a);
	if (!strcmp(act, "assert_text"))
		return br_do_assert(r, a);
	if (!strcmp(act, "extract"))
		return br_do_extract(r, a);
	return br_do_execute(r, a);
}

/* The failed step's error again, now naming the step, with what was done
 * so far as compact JSON in the detail (shortened to fit). */
static json_t *br_step_fail(struct br_run *r, long failed, const char *action)
{
	struct pack_ctx *ctx = r->p->ctx;
	char code[sizeof ctx->err_code], msg[sizeof ctx->err_msg];
	snprintf(code, sizeof code, "%s", ctx->err_code[0] ? ctx->err_code : "handler_failed");
	snprintf(msg, sizeof msg, "%s", ctx->err_msg);
	json_t *d = json_pack("{s:I,s:s}", "steps_completed", (json_int_t)json_array_size(r->steps), "action", action);
	json_object_set_new(d, "failed_step", failed < 0 ? json_null() : json_integer(failed));
	json_object_set(d, "screenshots", r->screenshots);
	json_object_set(d, "assertions", r->assertions);
	char *text = json_dumps(d, JSON_COMPACT);
	if (text && strlen(text) > BR_DETAIL_MAX) {
		free(text);
		json_object_del(d, "assertions");
		text = json_dumps(d, JSON_COMPACT);
	}
	if (text && strlen(text) > BR_DETAIL_MAX) {
		free(text);
		json_object_del(d, "screenshots");
		json_object_set_new(d, "screenshots_taken", json_integer((json_int_t)json_array_size(r->screenshots)));
		text = json_dumps(d, JSON_COMPACT);
	}
	json_decref(d);
	if (failed < 0)
		pack_fail_detail(ctx, code, text, "opening url: %s", msg);
	else
		pack_fail_detail(ctx, code, text, "step %ld (%s) failed: %s", failed, action, msg);
	free(text);
	return NULL;
}

static json_t *br_interact(const json_t *in, struct pack_ctx *ctx)
{
	const char *url = json_string_value(json_object_get(in, "url"));
	const json_t *actions = json_object_get(in, "actions");
	struct br_page p = {.ctx = ctx};
	struct br_run r = {.p = &p, .steps = json_array(), .screenshots = json_array(), .extractions = json_object(),
			   .assertions = json_array()};
	json_t *out = NULL;
	char why[200];
	if (!json_is_array(actions) || json_array_size(actions) == 0 || json_array_size(actions) > BR_ACTIONS_MAX) {
		pack_fail(ctx, "invalid_input", "actions must be an array of 1 to %d actions", BR_ACTIONS_MAX);
		goto done;
	}
	if (url && !br_url_ok(url)) {
		pack_fail(ctx, "invalid_input", "url must be an http, https, file, data or about URL");
		br_step_fail(&r, -1, "navigate");
		goto done;
	}
	/* every action is checked before the first runs: a bad one late in
	 * the list must not leave the page half driven */
	for (size_t i = 0; i < json_array_size(actions); i++) {
		const json_t *a = json_array_get(actions, i);
		if (br_action_check(a, why, sizeof why) < 0) {
			pack_fail(ctx, "invalid_input", "%s", why);
			br_step_fail(&r, (long)i, br_s(a, "action") ? br_s(a, "action") : "?");
			goto done;
		}
	}
	if (br_open(&p, ctx, BR_INTERACT_TIMEOUT_MS) < 0 || br_set_viewport(&p, BR_VIEW_W, BR_VIEW_H) < 0)
		goto done;
	if (url && br_navigate(&p, url, p.deadline) < 0) {
		br_step_fail(&r, -1, "navigate");
		goto done;
	}
	for (size_t i = 0; i < json_array_size(actions); i++) {
		const json_t *a = json_array_get(actions, i);
		uint64_t t0 = now_ms_mono();
		r.index = i;
		r.action = br_s(a, "action");
		r.step = json_pack("{s:I,s:s,s:b}", "index", (json_int_t)i, "action", r.action, "ok", 1);
		if (br_s(a, "selector"))
			json_object_set_new(r.step, "selector", json_string(br_s(a, "selector")));
		int rc = br_action_run(&r, a);
		json_object_set_new(r.step, "ms", json_integer((json_int_t)(now_ms_mono() - t0)));
		if (rc < 0) {
			json_decref(r.step);
			br_step_fail(&r, (long)i, r.action);
			goto done;
		}
		json_array_append_new(r.steps, r.step);
	}
	json_int_t passed = 0;
	for (size_t i = 0; i < json_array_size(r.assertions); i++)
		passed += json_is_true(json_object_get(json_array_get(r.assertions, i), "passed"));
	out = json_pack("{s:I,s:O,s:O,s:O,s:O,s:I}", "steps_completed", (json_int_t)json_array_size(r.steps), "steps",
			r.steps, "screenshots", r.screenshots, "extractions", r.extractions, "assertions", r.assertions,
			"assertions_passed", passed);
	out = br_finish(&p, out, 0);
done:
	json_decref(r.steps);
	json_decref(r.screenshots);
	json_decref(r.extractions);
	json_decref(r.assertions);
	br_close(&p);
	return out;
}

/* ---------- the table ---------- */

#define BR_URL_PROP(what) \
	"\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536,\"description\":\"" what \
	" (http, https, file, data or about)\"}"
#define BR_SESSION_IN \
	"\"_session_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,\"description\":\"run in this existing " \
	"browser session instead of a fresh one\"}"
#define BR_SESSION_OUT "\"_session_id\":{\"type\":\"string\",\"description\":\"the session this ran in\"}"
#define BR_KEY_SCHEMA  "{\"type\":\"string\",\"minLength\":64,\"maxLength\":64}"
#define BR_WAIT_MS_PROP \
	"\"wait_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":60000,\"description\":\"extra wait after the load " \
	"event, in ms; default 0\"}"

const struct pack_def browser_packs[] = {
	{
		.name = "browser.screenshot_url", .version = 1, .cls = "browser",
		.description = "Load a URL in a headless browser and store a PNG screenshot of it (the viewport, or with "
			       "full_page the whole page height) as an artifact; returns its key, size and pixel dimensions, "
			       "the final URL after redirects and the page title.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"url\"],\"additionalProperties\":false,\"properties\":{"
				BR_URL_PROP("the page to capture") ","
				"\"full_page\":{\"type\":\"boolean\",\"description\":\"capture the whole page height (up to 16384 px), "
				"not just the viewport; default false\"},"
				"\"width\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":4096,\"description\":\"viewport width in px; default 1280\"},"
				"\"height\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":4096,\"description\":\"viewport height in px; default 800\"},"
				BR_WAIT_MS_PROP ","
				BR_SESSION_IN "}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"artifact_key\",\"size\",\"width\",\"height\",\"url\",\"title\"],"
				 "\"additionalProperties\":false,\"properties\":{"
				 "\"artifact_key\":" BR_KEY_SCHEMA ","
				 "\"size\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"bytes of the PNG\"},"
				 "\"width\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"PNG width in px\"},"
				 "\"height\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"PNG height in px\"},"
				 "\"url\":{\"type\":\"string\",\"description\":\"the page's URL after redirects\"},"
				 "\"title\":{\"type\":\"string\"},"
				 BR_SESSION_OUT "}}",
		.timeout_ms = BR_SHOT_TIMEOUT_MS, .read_only = 1, .open_world = 1, .fn = br_screenshot_url, .session = 1,
	},
	{
		.name = "web.scrape_spa", .version = 1, .cls = "browser",
		.description = "Load a URL in a headless browser (JavaScript runs, so single-page apps work) and extract named "
			       "fields by CSS selector, waiting up to timeout_ms for each to appear; fields never found are "
			       "listed in missing and the rest are still returned.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"url\",\"fields\"],\"additionalProperties\":false,\"properties\":{"
				BR_URL_PROP("the page to read") ","
				"\"fields\":{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":100,"
				"\"description\":\"field name -> what to extract\","
				"\"additionalProperties\":{\"type\":\"object\",\"required\":[\"selector\"],\"additionalProperties\":false,\"properties\":{"
				"\"selector\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,\"description\":\"CSS selector (first match; list: all)\"},"
				"\"format\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":80,\"description\":\"text (default), html "
				"(outer HTML), attr:<name>, number (the first number in the text), list (text of every match)\"}}}},"
				BR_WAIT_MS_PROP ","
				"\"timeout_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":60000,\"description\":\"how long to wait "
				"for fields to appear after load, in ms; default 5000\"},"
				BR_SESSION_IN "}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"data\",\"missing\",\"url\"],\"additionalProperties\":false,\"properties\":{"
				 "\"data\":{\"type\":\"object\",\"additionalProperties\":{\"type\":[\"string\",\"number\",\"array\"],"
				 "\"items\":{\"type\":\"string\"}}},"
				 "\"missing\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"fields not found\"},"
				 "\"url\":{\"type\":\"string\"},"
				 BR_SESSION_OUT "}}",
		.timeout_ms = BR_SCRAPE_TIMEOUT_MS, .read_only = 1, .open_world = 1, .fn = br_scrape_spa, .session = 1,
	},
	{
		.name = "browser.interact", .version = 1, .cls = "browser",
		.description = "Drive a headless browser through a list of actions (navigate, click, type, press, wait_for, "
			       "wait, scroll, screenshot, assert_text, extract, execute, focus, fill_login) and return each step, the "
			       "screenshots, extractions and assertions; a failing step stops the run with a typed error "
			       "naming the step.",
		.input_schema = "{\"type\":\"object\",\"required\":[\"actions\"],\"additionalProperties\":false,\"properties\":{"
				BR_URL_PROP("a page to open before the first action") ","
				"\"actions\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":100,\"items\":{\"type\":\"object\","
				"\"required\":[\"action\"],\"additionalProperties\":false,\"properties\":{"
				"\"action\":{\"enum\":[\"navigate\",\"click\",\"type\",\"press\",\"wait_for\",\"wait\",\"scroll\","
				"\"screenshot\",\"assert_text\",\"extract\",\"execute\",\"focus\",\"fill_login\"]},"
				"\"password_selector\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,\"description\":\"fill_login: "
				"the password field; the vault types the caller's login credential for this page's host (selector: the "
				"username field) and the secret never reaches the caller\"},"
				"\"submit_selector\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,\"description\":\"fill_login: "
				"clicked after filling\"},"
				"\"selector\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,\"description\":\"CSS selector; "
				"waited for up to timeout_ms\"},"
				"\"text\":{\"type\":\"string\",\"maxLength\":65536,\"description\":\"type: text to insert; assert_text: "
				"text the element (or the page) must contain\"},"
				"\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536},"
				"\"key\":{\"enum\":[\"Enter\",\"Tab\",\"Escape\",\"Backspace\",\"Delete\",\"Space\",\"ArrowUp\","
				"\"ArrowDown\",\"ArrowLeft\",\"ArrowRight\",\"Home\",\"End\",\"PageUp\",\"PageDown\"]},"
				"\"timeout_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120000,\"description\":\"selector waits "
				"default 5000; wait without selector: how long; navigate: load wait\"},"
				"\"x\":{\"type\":\"integer\",\"minimum\":-100000,\"maximum\":100000,\"description\":\"scroll by, px\"},"
				"\"y\":{\"type\":\"integer\",\"minimum\":-100000,\"maximum\":100000,\"description\":\"scroll by, px\"},"
				"\"script\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536,\"description\":\"execute: a "
				"JavaScript expression; its JSON value is returned\"},"
				"\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,\"description\":\"extract/execute: "
				"key in extractions; screenshot: artifact name\"}}}},"
				BR_SESSION_IN "}}",
		.output_schema = "{\"type\":\"object\",\"required\":[\"steps_completed\",\"steps\",\"screenshots\",\"extractions\","
				 "\"assertions\",\"assertions_passed\",\"url\"],\"additionalProperties\":false,\"properties\":{"
				 "\"steps_completed\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100},"
				 "\"steps\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"index\",\"action\",\"ok\",\"ms\"],"
				 "\"additionalProperties\":false,\"properties\":{"
				 "\"index\":{\"type\":\"integer\",\"minimum\":0},\"action\":{\"type\":\"string\"},\"ok\":{\"type\":\"boolean\"},"
				 "\"ms\":{\"type\":\"integer\",\"minimum\":0},\"selector\":{\"type\":\"string\"},"
				 "\"artifact_key\":" BR_KEY_SCHEMA ",\"scroll_x\":{\"type\":\"integer\"},\"scroll_y\":{\"type\":\"integer\"},"
				 "\"result\":{\"description\":\"execute without name: the script's value; fill_login: which "
				 "credential was typed\"}}}},"
				 "\"screenshots\":{\"type\":\"array\",\"items\":" BR_KEY_SCHEMA "},"
				 "\"extractions\":{\"type\":\"object\"},"
				 "\"assertions\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"text\",\"passed\"],"
				 "\"additionalProperties\":false,\"properties\":{\"selector\":{\"type\":\"string\"},"
				 "\"text\":{\"type\":\"string\"},\"passed\":{\"type\":\"boolean\"}}}},"
				 "\"assertions_passed\":{\"type\":\"integer\",\"minimum\":0},"
				 "\"url\":{\"type\":\"string\"},"
				 BR_SESSION_OUT "}}",
		.timeout_ms = BR_INTERACT_TIMEOUT_MS, .open_world = 1, .fn = br_interact, .session = 1,
	},
};
const size_t browser_packs_n = sizeof browser_packs / sizeof browser_packs[0];
