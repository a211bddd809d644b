// The official MCP TypeScript SDK against helmdeck through the stdio bridge:
// StdioClientTransport spawns $HD_BRIDGE (bin/helmdeck-mcp) with HELMDECK_URL
// and HELMDECK_TOKEN. Prints one JSON line of what it saw; 75_bridge.t checks it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
const transport = new StdioClientTransport({
	command: process.env.HD_BRIDGE,
	args: [],
	env: { HELMDECK_URL: process.env.HELMDECK_URL, HELMDECK_TOKEN: process.env.HELMDECK_TOKEN },
});
const client = new Client({ name: "helmdeck-stdio-test", version: "1.0.0" });
const out = {};
await client.connect(transport);
out.server = client.getServerVersion();
out.instructions = client.getInstructions() ?? null;
const tools = await client.listTools();
out.tools = tools.tools.map(t => t.name);
out.put_required = tools.tools.find(t => t.name === "artifact.put")?.inputSchema?.required;
const ok = await client.callTool({ name: "artifact.put", arguments: { name: "stdio.txt", content: "through the stdio bridge" } });
out.ok_isError = ok.isError ?? false; out.ok_key = ok.structuredContent?.key;
const bad = await client.callTool({ name: "artifact.put", arguments: { content: "x" } });
out.bad_isError = bad.isError; out.bad_text = bad.content?.[0]?.text;
try {
	await client.callTool({ name: "no.such", arguments: {} });
	out.unknown_tool = "no error";
} catch (e) {
	out.unknown_tool = e.code ?? String(e);
}
await client.ping(); out.ping = true;
await client.close(); out.closed = true;
console.log(JSON.stringify(out));
