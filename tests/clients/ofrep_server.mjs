// OpenFeature's server-side JavaScript SDK with its OFREP provider, against
// a relay.
//
//     node ofrep_server.mjs URL CASES [TOKEN]
//
// CASES is a JSON file: a list of {"flag", "method", "default", "context"},
// `method` one of boolean, string, integer, float, object (integer and float
// are both the SDK's number). Each case is evaluated with the client's
// `get<Type>Details`, and one JSON object per case is printed on stdout:
// {"flag", "method", "value", "variant", "reason", "errorCode", "errorMessage"}.
import { readFileSync } from 'node:fs';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [url, casesPath, token] = process.argv.slice(2);
const headers = token ? [['Authorization', `Bearer ${token}`]] : undefined;
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: url, headers }));
const client = OpenFeature.getClient('flagctl-tests');
const methods = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  integer: 'getNumberDetails',
  float: 'getNumberDetails',
  object: 'getObjectDetails',
};
for (const testCase of JSON.parse(readFileSync(casesPath, 'utf8'))) {
  const details = await client[methods[testCase.method]](testCase.flag, testCase.default, testCase.context ?? {});
  console.log(
    JSON.stringify({
      flag: testCase.flag,
      method: testCase.method,
      value: details.value,
      variant: details.variant ?? null,
      reason: details.reason ?? null,
      errorCode: details.errorCode ?? null,
      errorMessage: details.errorMessage ?? null,
    }),
  );
}
await OpenFeature.close();
