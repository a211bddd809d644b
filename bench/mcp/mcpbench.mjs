// mcpbench: closed-loop, one client, one request at a time, over one
// transport. Raw protocol clients (no SDK), so what is measured is the
// server and the wire, not client-side schema validation.
//
//   node mcpbench.mjs TRANSPORT OP N
//   TRANSPORT: rest | http-json | http-sse | sse | ws | stdio
//   OP:        get  (artifact.get of $KEY, a stored 1 KiB artifact)
//              ping (MCP ping; REST: GET /healthz)
//   env: HD_URL, TOKEN, KEY, HD_BRIDGE (for stdio)
//
// Prints one line like bench/dispatch/loadgen:
//   label=.. conc=1 n=.. ok=.. fail=.. secs=.. rps=.. p50=.. p90=.. p99=.. max=..
// (milliseconds, nearest-rank percentiles as in bench/dispatch/stats.h).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const [transport, op, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 200);
const WARM = 20;
const base = process.env.HD_URL, token = process.env.TOKEN, key = process.env.KEY;
const auth = { Authorization: "Bearer " + token };
const json = { ...auth, "Content-Type": "application/json" };

let seq = 0;
const request = () => op === "ping"
	? { jsonrpc: "2.0", id: ++seq, method: "ping" }
	: { jsonrpc: "2.0", id: ++seq, method: "tools/call", params: { name: "artifact.get", arguments: { key } } };
// a correct answer: ping -> {}, artifact.get -> the 1 KiB artifact
const good = m => m && !m.error && (op === "ping" ? m.result && Object.keys(m.result).length === 0
	: m.result?.isError === false && m.result?.structuredContent?.size === 1024);

// reads an SSE body and hands each event's data (parsed JSON) to onData
async function readEvents(body, onData) {
	const dec = new TextDecoder();
	let buf = "";
	for await (const chunk of body) {
		buf += dec.decode(chunk, { stream: true });
		let i;
		while ((i = buf.indexOf("\n\n")) >= 0) {
			const ev = buf.slice(0, i);
			buf = buf.slice(i + 2);
			const data = ev.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
			if (data.startsWith("{"))
				onData(JSON.parse(data));
			else if (data)
				onData({ endpoint: data });
		}
	}
}

// a call(): one round trip, resolving true when the answer was right
async function open() {
	if (transport === "rest") {
		return op === "ping"
			? async () => (await (await fetch(base + "/healthz")).json()).status === "ok"
			: async () => {
				const r = await fetch(base + "/api/v1/packs/artifact.get", { method: "POST", headers: json, body: JSON.stringify({ key }) });
				return (await r.json()).output?.size === 1024;
			};
	}
	if (transport === "http-json" || transport === "http-sse") {
		const init = await fetch(base + "/api/v1/mcp", { method: "POST", headers: { ...json, Accept: "application/json" },
			body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18" } }) });
		const sid = init.headers.get("mcp-session-id");
		await init.json();
		const accept = transport === "http-sse" ? "application/json, text/event-stream" : "application/json";
		const headers = { ...json, Accept: accept, "Mcp-Session-Id": sid };
		return async () => {
			const r = await fetch(base + "/api/v1/mcp", { method: "POST", headers, body: JSON.stringify(request()) });
			if (!(r.headers.get("content-type") ?? "").startsWith("text/event-stream"))
				return good(await r.json());
			let last;
			await readEvents(r.body, m => { last = m; });
			return good(last);
		};
	}
	// the message-per-event transports: an answer is matched to its id
	const waiting = new Map();
	const deliver = m => { const w = waiting.get(m.id); if (w) { waiting.delete(m.id); w(m); } };
	const reply = msg => new Promise(res => waiting.set(msg.id, res));
	let send;
	if (transport === "sse") {
		const stream = await fetch(base + "/api/v1/mcp/sse", { headers: { ...auth, Accept: "text/event-stream" } });
		let endpoint;
		const got = new Promise(res => readEvents(stream.body, m => { if (m.endpoint) { endpoint = m.endpoint; res(); } else deliver(m); }));
		await got;
		send = async msg => {
			const r = await fetch(base + endpoint, { method: "POST", headers: json, body: JSON.stringify(msg) });
			await r.text();
		};
	} else if (transport === "ws") {
		const WebSocket = (await import("ws")).default;
		const ws = new WebSocket(base.replace(/^http/, "ws") + "/api/v1/mcp/ws", "mcp", { headers: auth });
		await new Promise((res, rej) => { ws.on("open", res); ws.on("error", rej); });
		ws.on("message", d => deliver(JSON.parse(d.toString())));
		send = async msg => ws.send(JSON.stringify(msg));
	} else if (transport === "stdio") {
		const child = spawn(process.env.HD_BRIDGE, [], { env: { HELMDECK_URL: base, HELMDECK_TOKEN: token }, stdio: ["pipe", "pipe", "ignore"] });
		createInterface({ input: child.stdout }).on("line", l => deliver(JSON.parse(l)));
		send = async msg => { child.stdin.write(JSON.stringify(msg) + "\n"); };
		process.on("exit", () => child.kill());
	} else {
		throw new Error("unknown transport " + transport);
	}
	const hello = { jsonrpc: "2.0", id: "init", method: "initialize",
		params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "mcpbench", version: "1" } } };
	const p = reply(hello);
	await send(hello);
	await p;
	return async () => {
		const msg = request();
		const p2 = reply(msg);
		await send(msg);
		return good(await p2);
	};
}

const call = await open();
for (let i = 0; i < WARM; i++)
	await call();
const lat = [];
let fail = 0;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
	const s = performance.now();
	let ok = false;
	try { ok = await call(); } catch (e) { if (fail < 3) console.error("mcpbench:", e.message); }
	if (ok) lat.push(performance.now() - s); else fail++;
}
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = p => { if (!lat.length) return 0; const k = Math.min(lat.length, Math.max(1, Math.ceil(p / 100 * lat.length - 1e-9))); return lat[k - 1]; };
const f = v => v.toFixed(3);
console.log(`label=${transport}:${op} conc=1 n=${N} ok=${lat.length} fail=${fail} secs=${secs.toFixed(3)} rps=${(lat.length / secs).toFixed(1)} ` +
	`p50=${f(pct(50))} p90=${f(pct(90))} p99=${f(pct(99))} max=${f(lat.length ? lat[lat.length - 1] : 0)}`);
process.exit(fail ? 1 : 0);
