//! The health-check flags of `run` and `create` (`--health-cmd`,
//! `--health-interval`, `--health-timeout`, `--health-retries`,
//! `--health-start-period`, `--no-healthcheck`), turned into
//! `Config.Healthcheck` as Docker's CLI does (cli/command/container/opts.go).

use clap::Args;

use berth::api::models::{ContainerConfig, HealthConfig};

use super::resources::FlagValueError;

/// Health-check flags, flattened into `run`/`create`.
#[derive(Debug, Clone, Default, Args)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration", allow_hyphen_values = true, value_parser = duration_nanos)]
    health_interval: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_negative_numbers = true
    )]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration", allow_hyphen_values = true, value_parser = duration_nanos)]
    health_start_period: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration", allow_hyphen_values = true, value_parser = duration_nanos)]
    health_timeout: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
}

/// A Go duration flag value, in nanoseconds (pflag's `DurationVar`).
fn duration_nanos(value: &str) -> Result<i64, FlagValueError> {
    super::logs::parse_go_duration(value)
        .and_then(|d| d.num_nanoseconds())
        .ok_or_else(|| FlagValueError(format!("time: invalid duration {value:?}")))
}

impl HealthArgs {
    /// Sets `config.healthcheck` from the flags; the message is Docker's
    /// when they conflict or a value is negative.
    pub fn apply(&self, config: &mut ContainerConfig) -> Result<(), String> {
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let [interval, timeout, start_period, retries] = [
            self.health_interval,
            self.health_timeout,
            self.health_start_period,
            self.health_retries,
        ]
        .map(|v| v.unwrap_or(0));
        let have_settings =
            !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0;
        if self.no_healthcheck {
            if have_settings {
                return Err("--no-healthcheck conflicts with --health-* options".to_owned());
            }
            config.healthcheck = Some(HealthConfig {
                test: Some(vec!["NONE".to_owned()]),
                ..HealthConfig::default()
            });
            return Ok(());
        }
        if !have_settings {
            return Ok(());
        }
        for (flag, value) in [
            ("interval", interval),
            ("timeout", timeout),
            ("retries", retries),
            ("start-period", start_period),
        ] {
            if value < 0 {
                return Err(format!("--health-{flag} cannot be negative"));
            }
        }
        // Go's omitempty: zero fields are left out, so the image's apply.
        let set = |v: i64| (v != 0).then_some(v);
        config.healthcheck = Some(HealthConfig {
            test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".to_owned(), cmd]),
            interval: set(interval),
            timeout: set(timeout),
            start_period: set(start_period),
            retries: set(retries),
            ..HealthConfig::default()
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        health: HealthArgs,
    }

    fn apply(argv: &[&str]) -> Result<Option<HealthConfig>, String> {
        let mut all = vec!["x"];
        all.extend_from_slice(argv);
        let w = Wrap::try_parse_from(all).map_err(|e| e.to_string())?;
        let mut config = ContainerConfig::default();
        w.health.apply(&mut config)?;
        Ok(config.healthcheck)
    }

    #[test]
    fn flags_make_dockers_health_config() {
        assert_eq!(apply(&[]).unwrap(), None);
        let h = apply(&[
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "--health-start-period=1m30s",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(h.test.unwrap(), ["CMD-SHELL", "exit 1"]);
        assert_eq!(h.interval, Some(200_000_000));
        assert_eq!(h.retries, Some(2));
        assert_eq!(h.start_period, Some(90_000_000_000));
        assert_eq!(h.timeout, None);
        let v = serde_json::to_value(apply(&["--health-timeout", "1s"]).unwrap().unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"Timeout": 1_000_000_000}));
        assert_eq!(
            apply(&["--no-healthcheck"]).unwrap().unwrap().test.unwrap(),
            ["NONE"]
        );
    }

    #[test]
    fn bad_values_are_refused_like_docker() {
        assert_eq!(
            apply(&["--no-healthcheck", "--health-retries", "1"]).unwrap_err(),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(
            apply(&["--health-interval", "-1s"]).unwrap_err(),
            "--health-interval cannot be negative"
        );
        assert_eq!(
            apply(&["--health-retries", "-1"]).unwrap_err(),
            "--health-retries cannot be negative"
        );
        let e = apply(&["--health-timeout", "soon"]).unwrap_err();
        assert!(e.contains("time: invalid duration \"soon\""), "{e}");
    }
}
