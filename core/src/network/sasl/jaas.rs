//! `sasl.jaas.config`, Java's way of giving a login module its options:
//! `<LoginModule class> <flag> key=value key="quoted value" ...;`
//! PLAIN and SCRAM read `username` / `password` from it; OAUTHBEARER's unsecured login reads
//! `unsecuredLogin*` options (see `oauthbearer.rs`).

/// One JAAS line: the login module's class and its options in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    pub login_module: String,
    pub options: Vec<(String, String)>,
}

impl JaasConfig {
    /// Parses one entry. `None` for a line without a class, or with an option that is not
    /// `key=value` or an unterminated quote.
    pub fn parse(line: &str) -> Option<JaasConfig> {
        let mut words = Words {
            rest: line.trim().trim_end_matches(';').trim(),
        };
        let login_module = words.bare()?;
        let mut options = Vec::new();
        // The control flag (required, requisite, sufficient, optional) comes second; Kafka's
        // parser insists on it, and so does this one.
        let flag = words.bare()?;
        if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
            return None;
        }
        while !words.rest.is_empty() {
            let (key, value) = words.option()?;
            options.push((key, value));
        }
        Some(JaasConfig {
            login_module,
            options,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

struct Words<'a> {
    rest: &'a str,
}

impl Words<'_> {
    /// A word up to whitespace.
    fn bare(&mut self) -> Option<String> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            return None;
        }
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        self.rest = s[end..].trim_start();
        Some(s[..end].to_string())
    }

    /// `key=value` or `key="value with \" escapes"`.
    fn option(&mut self) -> Option<(String, String)> {
        let s = self.rest.trim_start();
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let after = s[eq + 1..].trim_start();
        let (value, rest) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            loop {
                match chars.next()? {
                    (i, '"') => break (out, &quoted[i + 1..]),
                    (_, '\\') => out.push(chars.next()?.1),
                    (_, c) => out.push(c),
                }
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        self.rest = rest.trim_start();
        Some((key.to_string(), value))
    }
}

/// `username` and `password` of a JAAS line, as Java's PlainLoginModule and ScramLoginModule
/// take them:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`
pub fn parse_jaas(jaas: &str) -> Option<(String, String)> {
    let c = JaasConfig::parse(jaas)?;
    Some((
        c.get("username")?.to_string(),
        c.get("password")?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_lines_give_username_and_password() {
        let line = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a \"b\" c";"#;
        assert_eq!(
            parse_jaas(line),
            Some(("alice".into(), r#"a "b" c"#.into()))
        );
        let line = "org.apache.kafka.common.security.plain.PlainLoginModule required password=pw username=bob;";
        assert_eq!(parse_jaas(line), Some(("bob".into(), "pw".into())));
        assert_eq!(
            parse_jaas("PlainLoginModule required username=\"x\";"),
            None
        );
    }

    #[test]
    fn options_keep_their_order_and_quoted_spaces() {
        let c = JaasConfig::parse(
            r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="the admin" unsecuredLoginExtension_traceId=abc ;"#,
        )
        .unwrap();
        assert_eq!(
            c.login_module,
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
        );
        assert_eq!(
            c.options,
            vec![
                (
                    "unsecuredLoginStringClaim_sub".to_string(),
                    "the admin".to_string()
                ),
                (
                    "unsecuredLoginExtension_traceId".to_string(),
                    "abc".to_string()
                ),
            ]
        );
        // No flag, a bad flag, an unterminated quote, a word that is not key=value.
        assert_eq!(JaasConfig::parse("Module;"), None);
        assert_eq!(JaasConfig::parse("Module sometimes a=b;"), None);
        assert_eq!(JaasConfig::parse(r#"Module required a="b;"#), None);
        assert_eq!(JaasConfig::parse("Module required a;"), None);
        assert_eq!(
            JaasConfig::parse("Module required;").unwrap().options,
            vec![]
        );
    }
}
