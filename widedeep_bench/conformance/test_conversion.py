"""The model under test converts cleanly: every stage keeps parity, the final model is truly dynamic."""

import pytest

from widedeep_bench import gates
from widedeep_bench.suite.plan import CONVERSION_STAGES

pytestmark = pytest.mark.conversion


def test_every_conversion_stage_keeps_parity_with_tf_original(suite_conversion, wd_results):
    if suite_conversion is None:
        why = "a converted ONNX was given (--wd-onnx or a fetched copy): this run converts nothing"
        for stage in CONVERSION_STAGES:
            wd_results.gates.withdraw(gates.conversion_gate_name(stage), why)
        pytest.skip(why)
    from widedeep_bench.compare import TOLERANCES

    atol = TOLERANCES["fp32"].atol
    checked = wd_results.gates.record(*(
        gates.conversion_gate(record.stage, record.max_abs_error, atol,
                              method=f"ONNX Runtime CPU vs TF original on {record.rows} eval rows")
        for record in suite_conversion.stages))
    failed = [gate.line() for gate in checked if not gate.passed]
    assert not failed, "\n".join(failed)


def test_final_model_passes_the_full_checker(suite_onnx):
    import onnx

    onnx.checker.check_model(str(suite_onnx), full_check=True)


def test_final_model_batch_dims_are_symbolic_after_reload(suite_onnx):
    """``cat_rows`` (26 x batch) leads the categorical input, ``batch`` every other input and the output;
    tf2onnx's own ``unk__N`` names would not do: they are not tied to each other."""
    import onnx

    from widedeep_bench.onnx_roles import input_roles

    model = onnx.load(str(suite_onnx))
    categorical = input_roles(model).categorical
    leading = {value.name: value.type.tensor_type.shape.dim[0].dim_param
               for value in [*model.graph.input, *model.graph.output]}
    wrong = {name: dim for name, dim in leading.items() if dim != ("cat_rows" if name == categorical else "batch")}
    assert not wrong, f"{suite_onnx}: leading dims {wrong}; expected cat_rows / batch (the vendor's change2dynamic " \
                      f"defect left them static)"


def test_final_model_dense_layers_are_gemm(suite_onnx):
    import onnx

    ops = [node.op_type for node in onnx.load(str(suite_onnx)).graph.node]
    assert ops.count("Gemm") == 4 and "MatMul" not in ops, f"{suite_onnx}: Gemm x{ops.count('Gemm')}, " \
                                                           f"MatMul x{ops.count('MatMul')}; expected 4 Gemm, 0 MatMul"
