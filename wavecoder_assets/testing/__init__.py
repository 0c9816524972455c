"""What the tests and the bench scripts share: the OpenAI-compatible test server (`openai_server`) and the
reference implementations the fast code is checked against (`reference`). Here rather than in assets_tests/ so
that bench/ never imports a test module; no Dagster import, and nothing beyond the core dependencies at import
time (datasketch, a `dev` extra, is imported where it is used)."""
