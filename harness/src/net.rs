//! The network: one namespace per node, a bridge in a namespace of its own,
//! and a veth from the root namespace so the harness reaches every node.
//!
//! ```text
//!  root ns: zdbh-h0 (10.213.7.254) ──┐
//!  zdbh-sw: bridge zdbh-br ──────────┼── zdbh-n1: eth0 10.213.7.1
//!                                    └── zdbh-n2: eth0 10.213.7.2 ...
//! ```
//!
//! Partitions are blackhole routes inside node namespaces: a `/32`
//! blackhole is more specific than the `/24` on-link route, so packets to
//! that peer are dropped at the sender; no iptables needed. Every name
//! starts with [`PREFIX`] so nothing here can clash with the machine's own
//! interfaces, and [`cleanup`] removes whatever a killed run left.

use std::net::Ipv4Addr;
use std::process::Command;

use crate::HarnessError;

/// Prefix of every namespace and interface this harness creates.
pub const PREFIX: &str = "zdbh";

/// The first three octets of the private /24 used inside the namespaces.
const SUBNET: [u8; 3] = [10, 213, 7];

/// Host part of the root namespace's address.
const HOST_OCTET: u8 = 254;

/// Most nodes: node ids are host octets, below [`HOST_OCTET`]; the
/// harness never needs more than a handful.
pub const NODES_MAX: u32 = 9;

/// The namespace holding the bridge.
fn switch_namespace() -> String {
    format!("{PREFIX}-sw")
}

/// The namespace of node `id`.
pub fn node_namespace(id: u32) -> String {
    format!("{PREFIX}-n{id}")
}

/// The address of node `id` inside the private subnet.
pub fn node_address(id: u32) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], id as u8)
}

/// The root end of the harness's veth.
fn host_link() -> String {
    format!("{PREFIX}-h0")
}

/// Runs `ip` with `args`; an error names the command and its output.
pub fn ip(args: &[&str]) -> Result<(), HarnessError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| HarnessError::Setup(format!("cannot run `ip`: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Setup(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Runs `ip` inside namespace `namespace`.
fn ip_in(namespace: &str, args: &[&str]) -> Result<(), HarnessError> {
    let mut full = vec!["-n", namespace];
    full.extend_from_slice(args);
    ip(&full)
}

/// Refuses to run without root or without a working `ip netns`.
pub fn preflight() -> Result<(), HarnessError> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| HarnessError::Setup(format!("cannot run `id -u`: {e}")))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err(HarnessError::Setup(
            "the harness creates network namespaces: run it as root".into(),
        ));
    }
    ip(&["netns", "list"]).map_err(|e| {
        HarnessError::Setup(format!("`ip netns` is unavailable ({e}); install iproute2"))
    })
}

/// The namespaces and links of one run; dropping it removes them.
pub struct Topology {
    nodes: u32,
}

impl Topology {
    /// Creates the bridge, `nodes` node namespaces and the root veth,
    /// after removing leftovers of an earlier run.
    pub fn create(nodes: u32) -> Result<Topology, HarnessError> {
        if !(1..=NODES_MAX).contains(&nodes) {
            return Err(HarnessError::Setup(format!(
                "--nodes {nodes}: use 1 to {NODES_MAX}"
            )));
        }
        let busy: Vec<String> = leftovers()
            .into_iter()
            .filter(|name| !pids_in(name).is_empty())
            .collect();
        if !busy.is_empty() {
            return Err(HarnessError::Setup(format!(
                "namespaces {} have running processes: another harness run is in progress \
                 (or was killed: then run `zerodb-harness --cleanup`)",
                busy.join(", ")
            )));
        }
        cleanup();
        // From here on, a failure drops `topology`, which removes the rest.
        let topology = Topology { nodes };
        let sw = switch_namespace();
        ip(&["netns", "add", &sw])?;
        ip_in(&sw, &["link", "add", "zdbh-br", "type", "bridge"])?;
        ip_in(&sw, &["link", "set", "zdbh-br", "up"])?;
        ip_in(&sw, &["link", "set", "lo", "up"])?;
        for id in 1..=nodes {
            let ns = node_namespace(id);
            let port = format!("{PREFIX}-p{id}");
            ip(&["netns", "add", &ns])?;
            ip_in(
                &sw,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            ip_in(&sw, &["link", "set", &port, "master", "zdbh-br", "up"])?;
            let address = format!("{}/24", node_address(id));
            ip_in(&ns, &["addr", "add", &address, "dev", "eth0"])?;
            ip_in(&ns, &["link", "set", "eth0", "up"])?;
            ip_in(&ns, &["link", "set", "lo", "up"])?;
        }
        let host = host_link();
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", "zdbh-ph", "netns", &sw,
        ])?;
        ip_in(&sw, &["link", "set", "zdbh-ph", "master", "zdbh-br", "up"])?;
        let address = format!(
            "{}/24",
            Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], HOST_OCTET)
        );
        ip(&["addr", "add", &address, "dev", &host])?;
        ip(&["link", "set", &host, "up"])?;
        Ok(topology)
    }

    /// The number of node namespaces.
    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// Drops every packet `from` sends to `to` (a one-way partition).
    pub fn block(&self, from: u32, to: u32) -> Result<(), HarnessError> {
        let target = format!("{}/32", node_address(to));
        ip_in(
            &node_namespace(from),
            &["route", "replace", "blackhole", &target],
        )
    }

    /// Removes every blackhole route of every node.
    pub fn heal(&self) -> Result<(), HarnessError> {
        for from in 1..=self.nodes {
            for to in 1..=self.nodes {
                if from != to {
                    let target = format!("{}/32", node_address(to));
                    // Absent routes are the normal case: ignore the error.
                    let _ = ip_in(
                        &node_namespace(from),
                        &["route", "del", "blackhole", &target],
                    );
                }
            }
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        cleanup();
    }
}

/// Removes every namespace and link with the harness's prefix, killing
/// the processes still inside them. Safe to run at any time.
pub fn cleanup() {
    let names = leftovers();
    for name in &names {
        for pid in pids_in(name) {
            crate::cluster::signal(&pid, "CONT");
            crate::cluster::signal(&pid, "KILL");
        }
    }
    for name in &names {
        let _ = ip(&["netns", "del", name]);
    }
    // The root end goes with its peer; this covers a half-made topology.
    let _ = ip(&["link", "del", &host_link()]);
}

/// The namespaces with the harness's prefix.
fn leftovers() -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output();
    list.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&format!("{PREFIX}-")))
        .map(str::to_string)
        .collect()
}

/// The processes running inside namespace `name`.
fn pids_in(name: &str) -> Vec<String> {
    Command::new("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
