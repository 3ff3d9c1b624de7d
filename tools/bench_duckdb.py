#!/usr/bin/env python3
"""bench_duckdb.py ROOT: DuckDB, the replay baseline an analyst reaches for, counting the
CreateAccessKey records in every CloudTrail log file under ROOT (read_json + unnest, the
records typed as JSON so DuckDB does not infer a struct over every field). Prints the count.
Run with .venv-bench's interpreter (tools/bench-requirements.txt pins DuckDB)."""

import sys

import duckdb

root = sys.argv[1].replace("'", "''")
query = f"""
SELECT count(*) FROM (
    SELECT unnest(Records) AS r
    FROM read_json('{root}/**/*.json.gz', columns = {{Records: 'JSON[]'}},
                   maximum_object_size = 1073741824)
) WHERE r ->> 'eventName' = 'CreateAccessKey'
"""
print(duckdb.sql(query).fetchone()[0])
