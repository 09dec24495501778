// The Node clients: the official `openai` package and the Vercel AI SDK's default OpenAI model.
// node clients.mjs BASE_URL KEY MODEL[,MODEL...]  -> one JSON line per (model, check), as the Python ones.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, generateObject, tool, stepCountIs } from "ai";
import { z } from "zod";

const [base, key, models] = process.argv.slice(2);
const expect = (cond, what) => { if (!cond) throw new Error(what); };
const weather = { type: "function", function: { name: "get_weather", description: "The weather in a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

const checks = {
  async openai_chat(model) {
    const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
    const r = await c.chat.completions.create({ model, messages: [{ role: "user", content: "Say hello." }] });
    expect(r.choices[0].message.content && r.usage.completion_tokens > 0, "empty answer or no usage");
    const { data, response } = await c.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(response.headers.get("x-request-id") && data._request_id, "no request id");
    return r.choices[0].message.content.slice(0, 40);
  },
  async openai_stream(model) {
    const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
    const s = await c.chat.completions.create({ model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Count to five." }] });
    let text = "", usage = null;
    for await (const chunk of s) { text += chunk.choices[0]?.delta?.content ?? ""; usage = chunk.usage ?? usage; }
    expect(text && usage && usage.total_tokens > 0, "empty stream or no usage");
    return usage;
  },
  async openai_tools(model) {
    const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
    const messages = [{ role: "user", content: "Weather in Paris?" }];
    const r = await c.chat.completions.create({ model, messages, tools: [weather] });
    const call = r.choices[0].message.tool_calls?.[0];
    expect(call && call.function.name === "get_weather", "no tool call");
    JSON.parse(call.function.arguments);
    messages.push(r.choices[0].message, { role: "tool", tool_call_id: call.id, content: "sunny" });
    const done = await c.chat.completions.create({ model, messages, tools: [weather] });
    expect(done.choices[0].message.content, "no answer after the tool");
    return call.function.arguments;
  },
  async openai_responses(model) {
    const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
    const r = await c.responses.create({ model, input: "Say hello." });
    expect(r.output_text && r.usage.output_tokens > 0, "empty response");
    const s = await c.responses.create({ model, input: "Count.", stream: true });
    const kinds = [];
    for await (const ev of s) kinds.push(ev.type);
    expect(kinds.at(-1) === "response.completed", `last event ${kinds.at(-1)}`);
    return kinds.length;
  },
  async openai_embeddings(model) {
    const c = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
    const e = await c.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    expect(e.data[0].embedding.length > 0, "no vector");
    return e.data[0].embedding.length;
  },
  async ai_sdk_generate_text(model) {
    const provider = createOpenAI({ baseURL: base + "/v1", apiKey: key });
    const r = await generateText({ model: provider(model), prompt: "Say hello.", maxRetries: 0 });
    expect(r.text && r.usage.outputTokens > 0, "empty text or no usage");
    return r.text.slice(0, 40);
  },
  async ai_sdk_stream_text(model) {
    const provider = createOpenAI({ baseURL: base + "/v1", apiKey: key });
    const r = streamText({ model: provider(model), prompt: "Count to five.", maxRetries: 0,
      onError: ({ error }) => { throw error; } });
    let text = "";
    for await (const part of r.textStream) text += part;
    const usage = await r.usage;
    expect(text && usage.outputTokens > 0, "empty stream or no usage");
    return text.slice(0, 40);
  },
  async ai_sdk_tools(model) {
    const provider = createOpenAI({ baseURL: base + "/v1", apiKey: key });
    const r = await generateText({ model: provider(model), prompt: "What is the weather in Paris?", maxRetries: 0,
      tools: { get_weather: tool({ description: "The weather in a city.", inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => `sunny in ${city}` }) }, stopWhen: stepCountIs(3) });
    const calls = r.steps.flatMap((s) => s.toolCalls);
    expect(calls.length >= 1 && r.text, `calls ${calls.length}, text ${JSON.stringify(r.text)}`);
    return calls[0].input;
  },
  async ai_sdk_generate_object(model) {
    const provider = createOpenAI({ baseURL: base + "/v1", apiKey: key });
    const r = await generateObject({ model: provider(model), prompt: "Ada is 36. Extract the person.", maxRetries: 0,
      schema: z.object({ name: z.string(), age: z.number().int() }) });
    expect(typeof r.object.name === "string" && Number.isInteger(r.object.age), JSON.stringify(r.object));
    return r.object;
  },
};

for (const model of models.split(",")) {
  for (const [name, check] of Object.entries(checks)) {
    const started = Date.now();
    let ok = true, detail;
    try { detail = await check(model); } catch (e) { ok = false; detail = String(e?.stack ?? e).slice(0, 1500); }
    console.log(JSON.stringify({ model, check: name, ok, detail, seconds: (Date.now() - started) / 1000 }));
  }
}
