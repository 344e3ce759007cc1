"""Parses a /metrics answer with prometheus_client's parser for its format.

Usage: metrics_parse.py FILE classic|openmetrics
Prints one JSON object per metric family: name, type, and its samples
(name, labels, value).
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as classic

path, kind = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as file:
    text = file.read()
parse = openmetrics if kind == "openmetrics" else classic
for family in parse(text):
    print(json.dumps({
        "name": family.name,
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }))
