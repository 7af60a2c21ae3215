//! A head as an ONNX graph: `embedding [N, dim]` → Gemm (standardisation folded into the
//! weights) → Softmax → `probabilities [N, classes]`. Opset 17, IR 8: ONNX Runtime (Rust
//! or Python) loads it as any other model. The class names are in the model's metadata
//! (`classes`, a JSON list), so the file stands on its own.

mod proto;

use prost::Message;

use crate::head::LinearHead;
use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};

/// Name of the graph input.
pub const INPUT: &str = "embedding";
/// Name of the graph output.
pub const OUTPUT: &str = "probabilities";
/// ONNX operator set the graph uses.
pub const OPSET: i64 = 17;

const FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;

/// Serialises `head` as an ONNX model; `metadata` pairs are added to the model's
/// `metadata_props` after `classes`. The bytes are deterministic for the same head.
pub fn head_to_onnx(head: &LinearHead, metadata: &[(String, String)]) -> Vec<u8> {
    let layer = head.folded();
    let (classes, dim) = (layer.weights.nrows() as i64, layer.weights.ncols() as i64);
    let graph = GraphProto {
        name: "sightline_head".into(),
        node: vec![
            node(
                "Gemm",
                &[INPUT, "W", "B"],
                "logits",
                vec![int_attr("transB", 1)],
            ),
            node("Softmax", &["logits"], OUTPUT, vec![int_attr("axis", 1)]),
        ],
        initializer: vec![
            tensor("W", &[classes, dim], layer.weights.iter()),
            tensor("B", &[classes], layer.bias.iter()),
        ],
        input: vec![value_info(INPUT, dim)],
        output: vec![value_info(OUTPUT, classes)],
        doc_string: "softmax head on a backbone embedding (Sightline)".into(),
    };
    let classes_json = json_list(&head.classes);
    let mut props = vec![entry("classes", &classes_json)];
    props.extend(metadata.iter().map(|(k, v)| entry(k, v)));
    ModelProto {
        ir_version: 8,
        producer_name: "sightline".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: "dev.sightline".into(),
        model_version: 1,
        doc_string: String::new(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: props,
    }
    .encode_to_vec()
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: op.to_lowercase(),
        op_type: op.into(),
        attribute,
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: ATTR_INT,
        ..AttributeProto::default()
    }
}

fn tensor<'a>(name: &str, dims: &[i64], values: impl Iterator<Item = &'a f32>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: FLOAT,
        name: name.into(),
        raw_data: values.flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// A `float [N, width]` value.
fn value_info(name: &str, width: i64) -> ValueInfoProto {
    let dim = vec![
        Dimension {
            dim_value: None,
            dim_param: Some("N".into()),
        },
        Dimension {
            dim_value: Some(width),
            dim_param: None,
        },
    ];
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    }
}

/// A JSON list of strings (escaped by hand: the crate has no JSON dependency).
fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let mut out = String::from("\"");
            for ch in s.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        })
        .collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_graph_round_trips_through_the_schema() {
        let head = LinearHead {
            classes: vec!["a \"quoted\"".into(), "b".into()],
            mean: array![0.0, 1.0, 2.0],
            scale: array![1.0, 2.0, 4.0],
            weights: array![[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]],
            bias: array![0.0, 1.0],
        };
        let bytes = head_to_onnx(&head, &[("version".into(), "v1".into())]);
        assert_eq!(
            bytes,
            head_to_onnx(&head, &[("version".into(), "v1".into())])
        );
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        let graph = model.graph.unwrap();
        assert_eq!(graph.node[0].op_type, "Gemm");
        assert_eq!(graph.initializer[0].dims, [2, 3]);
        assert_eq!(graph.initializer[0].raw_data.len(), 2 * 3 * 4);
        assert_eq!(model.metadata_props[0].value, r#"["a \"quoted\"","b"]"#);
        assert_eq!(model.metadata_props[1].key, "version");
    }
}
