"""The run's plan: which gates each collected conformance test evaluates, known before anything runs.

A gate in the plan that ends the session without a result is NOT RUN (with the test's skip reason or
setup error) and fails the run, so a missing runtime, a crashed fixture or an absent TF original can
never turn a run green. The names come from ``widedeep_bench.gates``, the same functions the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from widedeep_bench import gates
from widedeep_bench.suite.config import SuiteConfig
from widedeep_bench.errors import WidedeepError
from widedeep_bench.precision import REDUCED_PRECISIONS
from widedeep_bench.profiles import ScenarioGate
from widedeep_bench.suite.engines import OVERHEAD_RUNNER, REFERENCE_RUNNER, engine_options

# The suite's conversion stages, in order (widedeep_bench.conversion: export, then default_stages). A renamed
# stage shows up as a NOT RUN gate here and an unplanned one there, never as a silently skipped check.
CONVERSION_STAGES = ("export", "simplify", "deploy", "dynamic")


@dataclass(frozen=True)
class GatesOfTest:
    names: list[str]
    engine: bool  # the test exercises an engine under test
    judges_when_runnable: bool = False  # out of the plan (its runner cannot run here), it would judge gates

    @property
    def judges(self) -> bool:
        """An engine test that judges something, or would where its runner can run."""
        return self.engine and (bool(self.names) or self.judges_when_runnable)


def gates_of_test(test: str, params: dict, config: SuiteConfig) -> GatesOfTest:
    """The gates conformance test function ``test`` evaluates with parameters ``params``.

    A runner that cannot run here and that the run did not name (``config.must_run``: the explicit
    profile, ``--wd-backend`` or ``--wd-ort-providers``) is not part of the plan: its tests skip with the
    reason, as in the default exploratory run. One the run named is; with ``--wd-allow-missing`` its
    gates are then listed as NOT RUN instead of failing the session at configuration.
    """
    case = params.get("engine_case") or params.get("perf_case")
    if case is not None and case.unavailable and not config.must_run(case.backend):
        # Out of the plan, but still an engine test that would judge something: a run whose selected engine
        # tests all skip like this (a precision no runner has here) measured nothing, and fails.
        key = "engine_case" if "engine_case" in params else "perf_case"
        runnable = gates_of_test(test, {**params, key: replace(case, unavailable=None)}, config)
        return GatesOfTest([], engine=runnable.engine, judges_when_runnable=bool(runnable.names))
    batch = params.get("batch_size")
    if test == "test_tf_original_accuracy":
        return GatesOfTest(gates.accuracy_gate_names(f"{REFERENCE_RUNNER}-fp32", with_drop=False), engine=False)
    if test == "test_engine_accuracy":
        return GatesOfTest(gates.accuracy_gate_names(case.id, with_drop=True, tier=config.profile.auc_tier),
                           engine=True)
    if test == "test_engine_runs_its_precision":
        return GatesOfTest(gates.precision_gate_names(case.id, case.precision, REDUCED_PRECISIONS), engine=True)
    if test == "test_engine_matches_reference":
        reference = params["reference"]
        return GatesOfTest([] if case.id == reference else [gates.parity_gate_name(case.id, batch, reference)],
                         engine=True)
    if test == "test_throughput":
        if case.backend in (REFERENCE_RUNNER, OVERHEAD_RUNNER):
            return GatesOfTest([], engine=False)  # the baseline peer and the harness floor: measured, not gated
        applicable = config.profile.perf_gates(case.backend, case.precision, batch)
        return GatesOfTest(gates.perf_gate_names(case.id, batch, applicable), engine=True)
    if test == "test_scenario":
        gate = params.get("scenario_gate")
        if not isinstance(gate, ScenarioGate):  # a profile without [[scenario]] tables: pytest's empty set
            return GatesOfTest([], engine=False)
        return GatesOfTest(gates.scenario_gate_names(gate), engine=gate.backend != OVERHEAD_RUNNER)
    if test == "test_every_conversion_stage_keeps_parity_with_tf_original":
        return GatesOfTest([] if config.onnx else [gates.conversion_gate_name(s) for s in CONVERSION_STAGES],
                         engine=False)
    return GatesOfTest([], engine=False)


def unmeasurable_perf_gates(config: SuiteConfig, backends: list[str]) -> list[str]:
    """The profile's throughput gates this run can never evaluate, each named with what is missing.

    ``backends``: the runners the run tests (explicit or default). The TF original and the null runner are
    measured but never gated (the baseline peer and the harness floor), so no gate can apply to them."""
    problems = []
    gated = [backend for backend in backends if backend not in (REFERENCE_RUNNER, OVERHEAD_RUNNER)]
    for index, gate in enumerate(config.profile.perf, start=1):
        missing = []
        if gate.batch not in config.batch_sizes:
            missing.append(f"batch {gate.batch} (run measures {list(config.batch_sizes)})")
        if gate.precision not in config.precisions:
            missing.append(f"precision {gate.precision} (run measures {list(config.precisions)})")
        if gate.backend in (REFERENCE_RUNNER, OVERHEAD_RUNNER):
            missing.append(f"a gated backend ({gate.backend} is measured as the "
                           f"{'baseline peer' if gate.backend == REFERENCE_RUNNER else 'harness floor'}, never gated)")
        elif gate.backend is not None and gate.backend not in gated:
            missing.append(f"backend {gate.backend} (run measures {backends})")
        elif gate.backend is None and not gated:
            missing.append(f"a gated backend (run measures {backends}: the TF original and null are never gated)")
        if missing:
            problems.append(f"{config.profile.source} [[perf]] #{index} ({gate.backend or 'any backend'} "
                            f"{gate.precision} batch {gate.batch}) can never apply: the run lacks "
                            + ", ".join(missing))
    return problems


def unrunnable_scenario_gates(config: SuiteConfig) -> list[str]:
    """The profile's ``[[scenario]]`` tables this machine can never run: LoadGen absent, or a runner that
    cannot run here (each named with why). A run that may select the scenario tests refuses them at start."""
    from widedeep_bench.engines.registry import runner_class
    from widedeep_bench.loadgen.sut import loadgen_module

    problems = []
    try:
        loadgen_module()
    except WidedeepError as exc:
        problems.append(f"{config.profile.source} has [[scenario]] tables: {exc}; or deselect them: -m 'not scenario'")
    for index, gate in enumerate(config.profile.scenarios, start=1):
        why = runner_class(gate.backend).unavailable_reason(
            engine_options(gate.backend, gate.precision, ort_providers=config.ort_providers))
        if why:
            problems.append(f"{config.profile.source} [[scenario]] #{index} ({gates.scenario_case(gate)}) cannot run "
                            f"here: {why}")
    return problems
