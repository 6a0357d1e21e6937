//! Static checks of `statemachine/pipeline.asl.json` against the stage contract: every state is
//! reachable and ends somewhere, every Task retries the retryable error names and catches the
//! rest, and every JSONPath the definition reads names a field the contract types really have.

use std::collections::{BTreeSet, HashMap};

use etl_core::contract::{
    CatalogStep, CleanUpReport, ErrorName, FailureReport, QueryState, QueryStatus, Stage,
    TransformRequest, TransformResult, PIPELINE_FAILED,
};
use serde_json::Value;

const ASL: &str = include_str!("../../statemachine/pipeline.asl.json");
const CATALOG_EVENT: &str = include_str!("../../events/catalog-update.json");

/// The function ARNs the template substitutes.
const SUBSTITUTIONS: [&str; 4] = [
    "${TransformFunctionArn}",
    "${CatalogUpdateFunctionArn}",
    "${AthenaPollerFunctionArn}",
    "${FailureNotifierFunctionArn}",
];

fn definition() -> Value {
    serde_json::from_str(ASL).unwrap()
}

fn states(def: &Value) -> &serde_json::Map<String, Value> {
    def["States"].as_object().unwrap()
}

/// Every state a state can go to next.
fn targets(state: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["Next", "Default"] {
        if let Some(t) = state[key].as_str() {
            out.push(t.to_string());
        }
    }
    for list in ["Choices", "Catch"] {
        for c in state[list].as_array().into_iter().flatten() {
            out.push(c["Next"].as_str().unwrap().to_string());
        }
    }
    out
}

#[test]
fn every_state_is_reachable_and_every_path_ends() {
    let def = definition();
    let states = states(&def);
    let mut seen = BTreeSet::new();
    let mut todo = vec![def["StartAt"].as_str().unwrap().to_string()];
    while let Some(name) = todo.pop() {
        let state = states
            .get(&name)
            .unwrap_or_else(|| panic!("no state {name}"));
        if !seen.insert(name.clone()) {
            continue;
        }
        let next = targets(state);
        let terminal = matches!(state["Type"].as_str(), Some("Succeed" | "Fail"))
            || state["End"] == Value::Bool(true);
        assert!(terminal || !next.is_empty(), "{name} goes nowhere");
        todo.extend(next);
    }
    let all: BTreeSet<String> = states.keys().cloned().collect();
    assert_eq!(seen, all, "unreachable states");
    assert!(
        def["TimeoutSeconds"].as_u64().is_some(),
        "the execution has a timeout"
    );
}

#[test]
fn every_task_retries_and_catches() {
    let def = definition();
    let mut resources = BTreeSet::new();
    for (name, state) in states(&def) {
        if state["Type"] != "Task" {
            continue;
        }
        resources.insert(state["Resource"].as_str().unwrap().to_string());
        assert!(
            state["TimeoutSeconds"].as_u64().is_some(),
            "{name} has no timeout"
        );
        let retriers = state["Retry"].as_array().unwrap();
        let retried: Vec<&str> = retriers
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .map(|v| v.as_str().unwrap())
            .collect();
        for r in retriers {
            assert_eq!(r["JitterStrategy"], "FULL", "{name}: retries spread out");
            assert!(
                r["MaxDelaySeconds"].as_u64().is_some(),
                "{name}: delays bounded"
            );
        }
        // The worst case: every attempt of the first retrier runs to the task's timeout, the
        // throttled ones (rejected before they run) only wait; all of it within the execution's.
        let timeout = state["TimeoutSeconds"].as_f64().unwrap();
        let mut worst = timeout;
        for (i, r) in retriers.iter().enumerate() {
            let attempts = r["MaxAttempts"].as_u64().unwrap();
            let (interval, rate) = (
                r["IntervalSeconds"].as_f64().unwrap(),
                r["BackoffRate"].as_f64().unwrap(),
            );
            let max_delay = r["MaxDelaySeconds"].as_f64().unwrap();
            for a in 0..attempts {
                worst += (interval * rate.powi(a as i32)).min(max_delay);
                if i == 0 {
                    worst += timeout;
                }
            }
        }
        assert!(
            worst <= def["TimeoutSeconds"].as_f64().unwrap(),
            "{name}: {worst} s of retries exceed the execution timeout"
        );
        for error in ["Lambda.ServiceException", "Lambda.TooManyRequestsException"] {
            assert!(retried.contains(&error), "{name} does not retry {error}");
        }
        for error in ErrorName::ALL {
            assert_eq!(
                retried.contains(&error.as_str()),
                error.is_retried(),
                "{name} retries {error}: {retried:?}"
            );
        }
        let catch = &state["Catch"][0];
        assert_eq!(
            catch["ErrorEquals"],
            serde_json::json!(["States.ALL"]),
            "{name} catches everything"
        );
    }
    assert_eq!(
        resources,
        SUBSTITUTIONS.iter().map(|s| s.to_string()).collect()
    );
    let fail = &states(&def)["Failed"];
    assert_eq!(fail["Error"], PIPELINE_FAILED);
    // When the notifier itself fails, the execution ends with another error, so the EventBridge
    // rule (which skips PipelineFailed, already reported) reports it.
    let lost = &states(&def)["NotifyFailure"]["Catch"][0]["Next"];
    let lost = &states(&def)[lost.as_str().unwrap()];
    assert_eq!(lost["Type"], "Fail");
    assert_ne!(lost["Error"], PIPELINE_FAILED);
}

/// Field names of a contract value, by the name the state machine stores it under.
fn contract_fields() -> HashMap<&'static str, BTreeSet<String>> {
    let transform: TransformResult = serde_json::from_value(
        serde_json::from_str::<Value>(CATALOG_EVENT).unwrap()["transform"].clone(),
    )
    .unwrap();
    let catalog = CatalogStep {
        query_execution_id: Some("q".into()),
        statement: None,
        next: 0,
        total: 0,
        more: false,
    };
    let query = QueryStatus {
        query_execution_id: "q".into(),
        state: QueryState::Running,
        reason: None,
        polls: 1,
        engine_execution_ms: None,
        data_scanned_bytes: None,
    };
    let keys = |v: Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    HashMap::from([
        ("transform", keys(serde_json::to_value(transform).unwrap())),
        ("catalog", keys(serde_json::to_value(catalog).unwrap())),
        ("query", keys(serde_json::to_value(query).unwrap())),
        (
            "clean_up",
            keys(serde_json::to_value(CleanUpReport::default()).unwrap()),
        ),
    ])
}

/// Every `$.a.b` path used anywhere in the definition.
fn paths(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("$.") => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| paths(x, out)),
        Value::Object(o) => o.values().for_each(|x| paths(x, out)),
        _ => {}
    }
}

#[test]
fn json_paths_name_real_contract_fields() {
    let fields = contract_fields();
    let mut all = Vec::new();
    paths(&definition(), &mut all);
    assert!(all.len() > 10);
    for path in all {
        let parts: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
        match parts.as_slice() {
            [root] => assert!(
                [
                    "transform",
                    "catalog",
                    "query",
                    "error",
                    "notification",
                    "notification_error",
                    "input",
                    "clean_up",
                    "clean_up_error"
                ]
                .contains(root),
                "{path}"
            ),
            [root, field] => {
                let known = fields
                    .get(root)
                    .unwrap_or_else(|| panic!("{path}: unknown root"));
                assert!(
                    known.contains(*field),
                    "{path}: {root} has no field {field} (has {known:?})"
                );
            }
            _ => panic!("{path}: deeper paths are not expected"),
        }
    }
}

#[test]
fn failure_states_build_failure_reports() {
    let def = definition();
    let report_fields = [
        "stage",
        "execution_arn",
        "input",
        "error",
        "transform",
        "query",
    ];
    for (name, state) in states(&def) {
        // Pass states that build a report: straight to the notifier, or through the clean-up.
        let next = &state["Next"];
        if state["Type"] != "Pass" || (next != "NotifyFailure" && next != "CleanUpFailedTransform")
        {
            continue;
        }
        let params = state["Parameters"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no Parameters"));
        for key in params.keys() {
            let field = key.trim_end_matches(".$");
            assert!(
                report_fields.contains(&field),
                "{name}: {field} is not a FailureReport field"
            );
        }
        // A report built from the sample data in this shape deserialises.
        let sample = serde_json::json!({
            "stage": params["stage"],
            "execution_arn": "arn:aws:states:us-east-1:1:execution:sm:x",
            "input": {"dataset": "iot_sensors", "object": {"bucket": "b", "key": "k", "size": 1}},
        });
        let report: FailureReport = serde_json::from_value(sample).unwrap();
        assert!(
            !matches!(report.stage, Stage::Execution(_)),
            "{name}: {:?} is not a stage of the contract",
            params["stage"]
        );
    }
}

/// After a failed transform the clean-up gets the execution's input as a clean-up request, and
/// loops through a Wait only while it asks to.
#[test]
fn a_failed_transform_is_cleaned_up_before_it_is_notified() {
    let def = definition();
    let s = states(&def);
    assert_eq!(s["TransformFailed"]["Next"], "CleanUpFailedTransform");
    let clean_up = &s["CleanUpFailedTransform"];
    assert_eq!(clean_up["Resource"], s["Transform"]["Resource"]);
    assert_eq!(
        clean_up["Parameters"],
        serde_json::json!({"clean_up.$": "$.input"})
    );
    assert_eq!(clean_up["Catch"][0]["Next"], "NotifyFailure");
    // A failed clean-up reaches the notifier as a field of the report it reads.
    assert_eq!(clean_up["Catch"][0]["ResultPath"], "$.clean_up_error");
    let report: FailureReport = serde_json::from_value(serde_json::json!({
        "stage": "Transform",
        "execution_arn": "arn:aws:states:us-east-1:1:execution:sm:x",
        "input": null,
        "clean_up_error": {"Error": "Retryable", "Cause": "SlowDown"},
    }))
    .unwrap();
    assert_eq!(
        report.clean_up_error.map(|e| e.error).as_deref(),
        Some("Retryable")
    );
    let input: Value = serde_json::from_str(include_str!("../../events/transform.json")).unwrap();
    let request: TransformRequest =
        serde_json::from_value(serde_json::json!({ "clean_up": input })).unwrap();
    assert!(matches!(request, TransformRequest::CleanUp { .. }));
    let plain: TransformRequest = serde_json::from_value(input).unwrap();
    assert!(matches!(plain, TransformRequest::Transform(_)));
    let choice = &s[clean_up["Next"].as_str().unwrap()];
    assert_eq!(choice["Choices"][0]["Variable"], "$.clean_up.wait_seconds");
    assert_eq!(choice["Default"], "NotifyFailure");
    let wait = &s[choice["Choices"][0]["Next"].as_str().unwrap()];
    assert_eq!(wait["SecondsPath"], "$.clean_up.wait_seconds");
    assert_eq!(wait["Next"], "CleanUpFailedTransform");
}

const TEMPLATE: &str = include_str!("../../template.yaml");

#[test]
fn the_template_substitutes_every_function_the_definition_uses() {
    for s in SUBSTITUTIONS {
        let name = s.trim_start_matches("${").trim_end_matches('}');
        assert!(
            TEMPLATE.contains(&format!("        {name}: !GetAtt ")),
            "template.yaml does not substitute {name}"
        );
    }
    assert!(TEMPLATE.contains("DefinitionUri: statemachine/pipeline.asl.json"));
}

/// The Lambda timeout `template.yaml` gives the function behind `${XFunctionArn}`.
fn lambda_timeout(resource: &str) -> u64 {
    let function = resource.trim_start_matches("${").trim_end_matches("Arn}");
    let start = TEMPLATE
        .find(&format!("\n  {function}:\n"))
        .unwrap_or_else(|| panic!("template.yaml has no {function}"));
    let rest = &TEMPLATE[start + 1..];
    let end = rest[3..].find("\n  ").map_or(rest.len(), |i| {
        // The next top-level resource: two spaces, then a name.
        rest[3 + i..]
            .match_indices("\n  ")
            .find(|(j, _)| !rest[3 + i + j + 3..].starts_with(' '))
            .map_or(rest.len(), |(j, _)| 3 + i + j)
    });
    let own = rest[..end]
        .lines()
        .find_map(|l| l.trim().strip_prefix("Timeout: "));
    let global = TEMPLATE
        .split("Globals:")
        .nth(1)
        .and_then(|g| g.lines().find_map(|l| l.trim().strip_prefix("Timeout: ")));
    own.or(global).unwrap().parse().unwrap()
}

/// A task that timed out in Step Functions must not still be running in Lambda: each task's
/// timeout is above its function's.
#[test]
fn every_task_times_out_after_its_lambda() {
    let def = definition();
    for (name, state) in states(&def) {
        if state["Type"] != "Task" {
            continue;
        }
        let task = state["TimeoutSeconds"].as_u64().unwrap();
        let lambda = lambda_timeout(state["Resource"].as_str().unwrap());
        assert!(
            task > lambda,
            "{name}: task timeout {task} s, Lambda's {lambda} s"
        );
    }
    assert_eq!(lambda_timeout("${TransformFunctionArn}"), 900);
    // A burst of transforms cannot take the notifier's concurrency.
    let notifier = &TEMPLATE[TEMPLATE.find("\n  FailureNotifierFunction:\n").unwrap()..];
    let notifier = &notifier[..notifier[3..].find("\n  Failure").unwrap_or(notifier.len())];
    assert!(
        notifier.contains("ReservedConcurrentExecutions: !If [ReservesNotifierConcurrency"),
        "{notifier}"
    );
}

/// Each function's `config` module tests that the template sets its variables; here, that every
/// function folder is one the template builds.
#[test]
fn the_template_builds_every_function() {
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut built = 0;
    for entry in std::fs::read_dir(functions).unwrap() {
        let dir = entry.unwrap().path();
        let binary = dir.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            TEMPLATE.contains(&format!("        Binary: {binary}\n")),
            "template.yaml does not build {binary}"
        );
        assert!(
            dir.join("src/config.rs").exists(),
            "{binary} has no config module"
        );
        built += 1;
    }
    assert_eq!(built, 5);
}
