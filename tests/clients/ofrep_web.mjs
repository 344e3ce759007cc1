// OpenFeature's web SDK with its OFREP web provider (bulk evaluation, then
// the change stream), under node with the `eventsource` package, against a
// relay.
//
//     node ofrep_web.mjs URL SCRIPT [TOKEN]
//
// SCRIPT is a JSON file: {"context", "cases", "watch", "timeoutMs"}. The
// provider evaluates every flag once for `context` (one bulk request); each
// of `cases` ({"flag", "method", "default"}) is then read from the client
// and printed as {"kind": "evaluation", "phase": "initial", "flag", "method",
// "value", "variant", "reason", "errorCode", "errorMessage"}, followed by
// {"kind": "ready"}. From then on every provider event is printed as
// {"kind": "event", "event", ...}; on each ConfigurationChanged the `watch`
// case is evaluated again ("phase": "changed"), and the program exits 0
// once its value differs from the initial one, or prints {"kind":
// "timeout"} and exits 2 after `timeoutMs`.
import { readFileSync } from 'node:fs';
import { EventSource } from 'eventsource';
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

// Node 20 has no EventSource; the provider looks for the global.
globalThis.EventSource = EventSource;

const [url, scriptPath, token] = process.argv.slice(2);
const script = JSON.parse(readFileSync(scriptPath, 'utf8'));
const print = (line) => console.log(JSON.stringify(line));
const logger = {
  error: (...args) => console.error('provider error:', ...args),
  warn: (...args) => console.error('provider warn:', ...args),
  info: (...args) => console.error('provider info:', ...args),
  debug: (...args) => console.error('provider debug:', ...args),
};

const timer = setTimeout(() => {
  print({ kind: 'timeout' });
  process.exit(2);
}, script.timeoutMs ?? 20000);

const provider = new OFREPWebProvider(
  {
    baseUrl: url,
    headers: token ? [['Authorization', `Bearer ${token}`]] : undefined,
    // No localStorage under node; polling off: changes come only from the stream.
    cacheMode: 'disabled',
    pollInterval: 0,
  },
  logger,
);
await OpenFeature.setContext(script.context);
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();

const methods = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  integer: 'getNumberDetails',
  float: 'getNumberDetails',
  object: 'getObjectDetails',
};
const evaluate = (phase, testCase) => {
  const details = client[methods[testCase.method]](testCase.flag, testCase.default);
  const line = {
    kind: 'evaluation',
    phase,
    flag: testCase.flag,
    method: testCase.method,
    value: details.value,
    variant: details.variant ?? null,
    reason: details.reason ?? null,
    errorCode: details.errorCode ?? null,
    errorMessage: details.errorMessage ?? null,
  };
  print(line);
  return line;
};

for (const testCase of script.cases) {
  evaluate('initial', testCase);
}
const before = evaluate('initial', script.watch);

for (const event of [ProviderEvents.Stale, ProviderEvents.Error, ProviderEvents.Ready]) {
  client.addHandler(event, (details) => print({ kind: 'event', event, message: details?.message ?? null }));
}
client.addHandler(ProviderEvents.ConfigurationChanged, async (details) => {
  print({
    kind: 'event',
    event: ProviderEvents.ConfigurationChanged,
    flagsChanged: details?.flagsChanged ?? null,
    message: details?.message ?? null,
  });
  const after = evaluate('changed', script.watch);
  if (JSON.stringify(after.value) !== JSON.stringify(before.value)) {
    clearTimeout(timer);
    await OpenFeature.close();
    process.exit(0);
  }
});
print({ kind: 'ready' });
