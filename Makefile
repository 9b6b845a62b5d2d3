# Shortcuts over scripts/bootstrap (the README's two commands) and the project's checks.
.PHONY: demo test docs lint translations bench

demo:
	scripts/bootstrap demo

test:
	scripts/bootstrap test

docs:
	scripts/bootstrap docs

lint:
	scripts/bootstrap lint

translations:
	scripts/update-translations

bench:
	.venv/bin/python benchmarks/nginx_summary.py
