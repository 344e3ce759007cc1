"""OpenFeature's Python SDK with its OFREP provider, against a relay.

    ofrep_python.py URL CASES [TOKEN]

CASES is a JSON file: a list of {"flag", "method", "default", "context"},
`method` one of boolean, string, integer, float, object; `context` holds
`targetingKey` and attributes. Each case is evaluated with the client's
`get_<method>_details`, and one JSON object per case is printed on stdout:
{"flag", "method", "value", "variant", "reason", "errorCode", "errorMessage"}.
"""

import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def main() -> int:
    url, cases_path = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else None
    headers = (lambda: {"Authorization": f"Bearer {token}"}) if token else None
    api.set_provider(OFREPProvider(url, headers_factory=headers, timeout=10.0))
    client = api.get_client("flagctl-tests")
    with open(cases_path, encoding="utf-8") as file:
        cases = json.load(file)
    for case in cases:
        context = dict(case.get("context") or {})
        targeting_key = context.pop("targetingKey", None)
        evaluate = getattr(client, f"get_{case['method']}_details")
        details = evaluate(
            case["flag"],
            case["default"],
            EvaluationContext(targeting_key=targeting_key, attributes=context),
        )
        print(
            json.dumps(
                {
                    "flag": case["flag"],
                    "method": case["method"],
                    "value": details.value,
                    "variant": details.variant,
                    "reason": _name(details.reason),
                    "errorCode": _name(details.error_code),
                    "errorMessage": details.error_message,
                }
            ),
            flush=True,
        )
    api.shutdown()
    return 0


def _name(value):
    """An enum's value (`Reason.SPLIT` -> "SPLIT"), a string as it is."""
    return getattr(value, "value", value)


if __name__ == "__main__":
    sys.exit(main())
