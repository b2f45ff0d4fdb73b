"""The model under test converts cleanly: every stage keeps parity, the final model is truly dynamic."""

import pytest

pytestmark = pytest.mark.conversion


def test_every_conversion_stage_keeps_parity_with_tf_original(suite_conversion, wd_results):
    if suite_conversion is None:
        pytest.skip("a converted ONNX was given (--wd-onnx): this run converts nothing")
    failed = []
    for record in suite_conversion.stages:
        gate = wd_results.gates.check(
            f"conversion stage {record.stage}: max |p_onnx - p_tf|", record.max_abs_error, "<=", record.tolerance,
            method=f"ONNX Runtime CPU vs TF original on {record.rows} eval rows")
        if not gate.passed:
            failed.append(gate.line())
    assert not failed, "\n".join(failed)


def test_final_model_passes_the_full_checker(suite_onnx):
    import onnx

    onnx.checker.check_model(str(suite_onnx), full_check=True)


def test_final_model_batch_dims_are_symbolic_after_reload(suite_onnx):
    import onnx

    model = onnx.load(str(suite_onnx))
    static = [value.name for value in [*model.graph.input, *model.graph.output]
              if not value.type.tensor_type.shape.dim[0].dim_param]
    assert not static, f"{suite_onnx}: leading dims not symbolic for {static} (the vendor's change2dynamic defect)"


def test_final_model_dense_layers_are_gemm(suite_onnx):
    import onnx

    ops = [node.op_type for node in onnx.load(str(suite_onnx)).graph.node]
    assert ops.count("Gemm") == 4 and "MatMul" not in ops, f"{suite_onnx}: Gemm x{ops.count('Gemm')}, " \
                                                           f"MatMul x{ops.count('MatMul')}; expected 4 Gemm, 0 MatMul"
