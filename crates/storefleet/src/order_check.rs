//! `storefleet order-check`: the orchestrator's readiness check, run by hand against any store.

use crate::cli::{OrderCheckArgs, Output};
use anyhow::bail;
use storefleet_domain::Engine;
use storefleet_ordercheck::{place_test_order, verify_order_via_admin, StoreCredentials, Target};

pub async fn place_and_report(args: &OrderCheckArgs) -> anyhow::Result<()> {
    let engine: Engine = args.engine.parse().map_err(anyhow::Error::msg)?;
    let credentials = StoreCredentials {
        publishable_key: args.publishable_key.clone(),
        admin_email: args.admin_email.clone(),
        admin_password: args.admin_password.clone(),
    };
    let target = Target::new(engine, args.url.clone(), credentials);
    let http = reqwest::Client::new();
    let report = match place_test_order(&http, &target).await {
        Ok(report) => report,
        // The message itself says an order may exist (an answer lost at the last step).
        Err(failure) if failure.order_may_exist() => {
            return Err(anyhow::Error::new(failure).context("the test order failed"))
        }
        Err(failure) => return Err(anyhow::Error::new(failure).context("no order was placed")),
    };
    let verified = match (engine, &args.admin_email, &args.admin_password) {
        (Engine::Medusa, Some(email), Some(password)) => {
            Some(verify_order_via_admin(&http, &args.url, email, password, &report.order_id).await?)
        }
        _ => None,
    };
    match args.output {
        Output::Json => {
            let steps: Vec<_> = report
                .steps
                .iter()
                .map(|s| serde_json::json!({"step": s.step, "ms": s.duration.as_secs_f64() * 1000.0}))
                .collect();
            let out = serde_json::json!({
                "order_id": report.order_id, "email": report.email, "total_ms": report.total.as_secs_f64() * 1000.0,
                "steps": steps, "verified_by_admin": verified,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Output::Human => {
            for step in &report.steps {
                println!(
                    "{:<26} {:>8.1} ms",
                    step.step,
                    step.duration.as_secs_f64() * 1000.0
                );
            }
            println!(
                "{:<26} {:>8.1} ms",
                "total",
                report.total.as_secs_f64() * 1000.0
            );
            println!("order {} placed as {}", report.order_id, report.email);
            if let Some(verified) = verified {
                println!(
                    "admin API {} the order",
                    if verified {
                        "confirms"
                    } else {
                        "does NOT show"
                    }
                );
            }
        }
    }
    if verified == Some(false) {
        bail!("the order was placed but the admin API does not show it");
    }
    Ok(())
}
