//! Which host an EDAS region is served from, and the rules for overriding it.

use url::Url;

/// Regions served by the Tokyo host (fact sheet §1).
const TOKYO_REGIONS: &[&str] = &[
    "ap-northeast-2-pop",
    "ap-south-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "eu-west-1",
    "eu-west-1-oxs",
    "me-east-1",
    "rus-west-1-pop",
    "us-west-1",
];

/// Regions served by the central host.
const CENTRAL_REGIONS: &[&str] = &[
    "cn-chengdu",
    "cn-huhehaote",
    "cn-wuhan",
    "cn-fujian",
    "cn-edge-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
    "cn-beijing-gov-1",
];

/// The public endpoint host for a region.
pub fn host_for_region(region: &str) -> String {
    if TOKYO_REGIONS.contains(&region) {
        "edas.ap-northeast-1.aliyuncs.com".to_string()
    } else if CENTRAL_REGIONS.contains(&region) {
        "edas.aliyuncs.com".to_string()
    } else {
        format!("edas.{region}.aliyuncs.com")
    }
}

/// A region id must look like one (letters, digits, dashes), so that it cannot steer the
/// request to another host.
pub fn validate_region(region: &str) -> Result<(), String> {
    if region.is_empty()
        || region.len() > 64
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "region {region:?} is not a valid region id (lower-case letters, digits and dashes)"
        ));
    }
    Ok(())
}

/// Parse and check an `--edas-endpoint` override: https anywhere, http only on loopback
/// unless `allow_insecure`.
pub fn parse_override(endpoint: &str, allow_insecure: bool) -> Result<Url, String> {
    parse_endpoint_url("--edas-endpoint", endpoint, allow_insecure)
}

/// Parse and check an endpoint URL given by `flag`: https anywhere, http only on loopback
/// unless `allow_insecure`.
pub fn parse_endpoint_url(flag: &str, endpoint: &str, allow_insecure: bool) -> Result<Url, String> {
    let url = Url::parse(endpoint).map_err(|e| format!("{flag} {endpoint:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) && !allow_insecure {
                return Err(format!(
                    "{flag} {endpoint:?} uses http:// on a non-loopback host; \
                     use https:// (or --allow-insecure-endpoint to accept plain HTTP)"
                ));
            }
        }
        other => {
            return Err(format!(
                "{flag} {endpoint:?} has scheme {other:?}; expected https:// (or http:// on loopback)"
            ));
        }
    }
    if url.host().is_none() {
        return Err(format!("{flag} {endpoint:?} has no host"));
    }
    Ok(url)
}

/// The URL's host is 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_documented_hosts() {
        assert_eq!(
            host_for_region("cn-hangzhou"),
            "edas.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(host_for_region("cn-chengdu"), "edas.aliyuncs.com");
        assert_eq!(
            host_for_region("ap-southeast-5"),
            "edas.ap-northeast-1.aliyuncs.com"
        );
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(parse_override("http://127.0.0.1:9000", false).is_ok());
        assert!(parse_override("http://[::1]:9000", false).is_ok());
        assert!(parse_override("http://localhost:9000", false).is_ok());
        let err = parse_override("http://edas.example.com", false).unwrap_err();
        assert!(err.contains("non-loopback"), "{err}");
        assert!(parse_override("http://edas.example.com", true).is_ok());
        assert!(parse_override("https://edas-vpc.cn-hangzhou.aliyuncs.com", false).is_ok());
        assert!(parse_override("ftp://x", false).is_err());
        assert!(parse_override("not a url", false).is_err());
    }

    #[test]
    fn region_ids_cannot_carry_hosts() {
        assert!(validate_region("cn-hangzhou").is_ok());
        assert!(validate_region("evil.com/x").is_err());
        assert!(validate_region("").is_err());
    }
}
