.PHONY: run test lint format bench bench-batch bench-reaction soak base-image

run:  ## Run the product: web, gRPC, worker, beat, events watcher (Ctrl-C stops them all)
	scripts/run

test:  ## The whole test suite (installs what it needs on a fresh machine)
	scripts/test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

base-image:
	scripts/build-base-image

bench:  ## Router vs replica vs bare limit with wrk, then HTTP vs gRPC client loops
	.venv/bin/python bench/predict_wrk.py

bench-batch:  ## Dynamic batching: the matmul model batched vs unbatched, 1/16/64 connections, with wrk
	.venv/bin/python bench/batch_bench.py

bench-reaction:  ## A load step -> 2nd replica ready; a killed replica -> replacement; a cold start vs a bare start
	.venv/bin/python bench/reaction.py

soak:  ## Start the product as `make run` does and drive mixed use (MINUTES=30)
	.venv/bin/python bench/soak.py --minutes $${MINUTES:-30}
