//! Client properties from `--bootstrap-server`, `--command-config` and `-X key=value`.

use crate::ClientArgs;

/// `key=value` pairs; later sources override earlier ones.
pub fn client_properties(
    args: &ClientArgs,
    extra: &[(&str, String)],
) -> Result<Vec<(String, String)>, String> {
    let mut props: Vec<(String, String)> =
        vec![("bootstrap.servers".into(), args.bootstrap_server.clone())];
    if let Some(path) = &args.command_config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{}: expected key=value, got `{line}`", path.display()))?;
            set(&mut props, k.trim(), v.trim());
        }
    }
    for (k, v) in extra {
        set(&mut props, k, v);
    }
    for kv in &args.properties {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("-X expects key=value, got `{kv}`"))?;
        set(&mut props, k.trim(), v.trim());
    }
    Ok(props)
}

fn set(props: &mut Vec<(String, String)>, k: &str, v: &str) {
    props.retain(|(key, _)| key != k);
    props.push((k.to_string(), v.to_string()));
}

/// Only the properties an admin client accepts (common client ones).
pub fn admin_properties(args: &ClientArgs) -> Result<Vec<(String, String)>, String> {
    const COMMON: &[&str] = &[
        "bootstrap.servers",
        "client.id",
        "request.timeout.ms",
        "metadata.max.age.ms",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "retry.backoff.ms",
        "retry.backoff.max.ms",
        "socket.connection.setup.timeout.ms",
        "security.protocol",
    ];
    Ok(client_properties(args, &[])?
        .into_iter()
        .filter(|(k, _)| COMMON.contains(&k.as_str()))
        .collect())
}

pub async fn admin(args: &ClientArgs) -> Result<krafty::admin::AdminClient, String> {
    krafty::admin::AdminClient::from_properties(admin_properties(args)?)
        .await
        .map_err(|e| e.to_string())
}

/// Parses `k=v` options into pairs.
pub fn pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("{what} expects key=value, got `{kv}`"))
        })
        .collect()
}
