//! Networks and endpoints, and published ports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{null_as_default, null_values_as_default};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkingConfig {
    #[serde(default, deserialize_with = "null_values_as_default")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_ip: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointIpamConfig {
    #[serde(
        rename = "IPv4Address",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub ipv4_address: String,
    #[serde(
        rename = "IPv6Address",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub ipv6_address: String,
}

/// One network a container is on (`NetworkSettings.Networks[name]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig", default)]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "NetworkID", default, deserialize_with = "null_as_default")]
    pub network_id: String,
    #[serde(rename = "EndpointID", default, deserialize_with = "null_as_default")]
    pub endpoint_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", default, deserialize_with = "null_as_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "null_as_default")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "null_as_default")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "null_as_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default, deserialize_with = "null_as_default")]
    pub global_ipv6_prefix_len: u8,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mac_address: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// `ContainerInspect.NetworkSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    #[serde(default, deserialize_with = "null_as_default")]
    pub bridge: String,
    #[serde(rename = "SandboxID", default, deserialize_with = "null_as_default")]
    pub sandbox_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hairpin_mode: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sandbox_key: String,
    /// Docker's legacy fields, always empty there too.
    #[serde(rename = "LinkLocalIPv6Address", default, deserialize_with = "null_as_default")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen", default, deserialize_with = "null_as_default")]
    pub link_local_ipv6_prefix_len: u8,
    #[serde(rename = "SecondaryIPAddresses", default)]
    pub secondary_ip_addresses: Option<Vec<serde_json::Value>>,
    #[serde(rename = "SecondaryIPv6Addresses", default)]
    pub secondary_ipv6_addresses: Option<Vec<serde_json::Value>>,
    #[serde(rename = "EndpointID", default, deserialize_with = "null_as_default")]
    pub endpoint_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", default, deserialize_with = "null_as_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "null_as_default")]
    pub ip_prefix_len: u8,
    /// The default bridge's IPv6 address (Docker's top-level copy).
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "null_as_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default, deserialize_with = "null_as_default")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "null_as_default")]
    pub ipv6_gateway: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mac_address: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamPool {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub ip_range: String,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub gateway: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, deserialize_with = "null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: Vec<IpamPool>,
}

/// Body of `POST /networks/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub check_duplicate: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachable: bool,
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv6", default, deserialize_with = "null_as_default")]
    pub enable_ipv6: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

/// `NetworkResource.Containers[id]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `GET /networks/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: BTreeMap<String, NetworkContainer>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Docker's config-only networks, which skiff does not make.
    #[serde(default)]
    pub config_from: ConfigReference,
    #[serde(default)]
    pub config_only: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    #[serde(default)]
    pub network: String,
}

/// Body of `POST /networks/{id}/connect` and `/disconnect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    pub container: String,
    #[serde(default)]
    pub endpoint_config: Option<EndpointSettings>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub force: bool,
}

/// The fixed host ports of Docker's `PortBindings` ("80/tcp" → 8080):
/// "8080/tcp". Ports the engine picks (no host port) never collide.
pub fn host_ports(bindings: &BTreeMap<String, Vec<PortBinding>>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, binds) in bindings {
        let proto = key.split_once('/').map_or("tcp", |(_, p)| p);
        for b in binds {
            if b.host_port.parse::<u16>().is_ok_and(|p| p > 0) {
                out.push(format!("{}/{proto}", b.host_port));
            }
        }
    }
    out
}
