//! Compiles a validated workflow to an Amazon States Language definition (JSONPath
//! only: no JSONata, no variables), for Step Functions.

use crate::template::Reference;

/// The JSONPath of a reference in the state document `{"input": ..., "steps": {<id>:
/// {"status": ..., "output": ...}}}` that the generated state machine passes along.
pub fn json_path(reference: &Reference) -> Result<String, String> {
    let (mut path, rest) = match reference {
        Reference::Input(rest) => ("$.input".to_owned(), rest),
        Reference::StepOutput(id, rest) => (format!("$.steps.{id}.output"), rest),
        Reference::Item(_) | Reference::Index => {
            return Err("${item} and ${index} have no path in the state".to_owned())
        }
    };
    for seg in rest {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{seg}]"));
        } else if seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            path.push('.');
            path.push_str(seg);
        } else {
            return Err(format!("field {seg:?} cannot be addressed in Step Functions; use letters, digits and '_'"));
        }
    }
    Ok(path)
}
