// Hand-made WebSocket clients (the `ws` package) against /api/v1/mcp/ws:
// authentication, the subprotocol, and frames no SDK would send. Each probe
// reports what came back; 76_mcp_transports.t and 77_mcp_fuzz.t check it.
// Usage: node ws_probe.mjs PROBE...   (prints one JSON object)
import WebSocket from "ws";

const url = process.env.HD_URL.replace(/^http/, "ws") + "/api/v1/mcp/ws";
const token = process.env.TOKEN;
const init = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize",
	params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "probe", version: "1" } } });

// connect, run fn(ws, got) once open; resolves with what happened
function session(opts, fn, timeoutMs = 10000) {
	return new Promise(resolve => {
		const res = { messages: [] };
		const ws = new WebSocket(opts.url ?? url, opts.protocol ?? "mcp", { headers: opts.headers ?? {}, maxPayload: 64 << 20 });
		const timer = setTimeout(() => { res.timeout = true; ws.terminate(); resolve(res); }, timeoutMs);
		ws.on("unexpected-response", (req, r) => { res.status = r.statusCode; clearTimeout(timer); resolve(res); });
		ws.on("error", e => { res.error = res.error ?? e.message; });
		ws.on("open", () => { res.open = true; res.protocol = ws.protocol; fn(ws, res); });
		ws.on("message", d => { res.messages.push(JSON.parse(d.toString())); res.onmsg?.(); });
		ws.on("close", (code, reason) => { res.close = code; res.reason = reason.toString(); clearTimeout(timer); resolve(res); });
	});
}
const bearer = { Authorization: "Bearer " + token };
const after = (res, n, fn) => { res.onmsg = () => { if (res.messages.length === n) fn(); }; };

const probes = {
	// the Authorization header, a few requests, a clean close
	header: () => session({ headers: bearer }, (ws, res) => {
		after(res, 3, () => ws.close(1000));
		ws.send(init);
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }));
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: "p", method: "ping" }));
	}),
	query: () => session({ url: url + "?access_token=" + token }, (ws, res) => { after(res, 1, () => ws.close(1000)); ws.send(init); }),
	noauth: () => session({}, () => {}),
	badtoken: () => session({ url: url + "?access_token=not.a.token" }, () => {}),
	badproto: () => session({ headers: bearer, protocol: "graphql-ws" }, () => {}),
	// not JSON, wrong types, an unknown method, a huge id: answers, and the socket stays
	junk: () => session({ headers: bearer }, (ws, res) => {
		after(res, 5, () => ws.close(1000));
		ws.send("not json");
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: "x" }));
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "no/such" }));
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: "9".repeat(1000), method: "ping" }));
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }));
	}),
	// one message in three frames
	fragmented: () => session({ headers: bearer }, (ws, res) => {
		after(res, 1, () => ws.close(1000));
		const m = JSON.stringify({ jsonrpc: "2.0", id: 6, method: "ping" });
		ws.send(m.slice(0, 5), { fin: false });
		ws.send(m.slice(5, 12), { fin: false });
		ws.send(m.slice(12), { fin: true });
	}),
	binary: () => session({ headers: bearer }, ws => ws.send(Buffer.from(init), { binary: true })),
	badutf8: () => session({ headers: bearer }, ws => ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })),
	big: () => session({ headers: bearer }, ws => ws.send(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping", params: { pad: "x".repeat(13 << 20) } })), 30000),
	// 10 MB of JSON in one frame: under the cap, so it is parsed and answered
	tenmb: () => session({ headers: bearer }, (ws, res) => {
		after(res, 1, () => ws.close(1000));
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "ping", params: { pad: "x".repeat(10 << 20) } }));
	}, 30000),
	// bytes that are not WebSocket frames at all
	garbage: () => session({ headers: bearer }, ws => ws._socket.write(Buffer.from("\x8f\xff\x00\x00\x00\x00\x00\x00\x00\x01garbage garbage"))),
	// gone while its pack runs
	midcall: () => session({ headers: bearer }, ws => {
		ws.send(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call",
			params: { name: "test.sleep", arguments: { ms: 1500 }, _meta: { "helmdeck/version": 1, progressToken: 1 } } }));
		setTimeout(() => ws.terminate(), 200);
	}),
};

const out = {};
for (const name of process.argv.slice(2))
	out[name] = await probes[name]();
console.log(JSON.stringify(out));
process.exit(0);
