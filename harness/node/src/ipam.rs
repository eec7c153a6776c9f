//! Where pod addresses come from: the node's `podCIDR` (kindnet, flannel, Cilium with
//! `ipam: kubernetes`), or per-node blocks of a cluster-wide pool, as Calico's IPAM hands
//! them out (a /26 with affinity to one node, another when it is full), which leaves pod IPs
//! outside the node's `podCIDR`. Pure: the simulated network asks [`BlockPool`] for blocks.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;

/// The prefix length of Calico's IPAM blocks (`blockSize` of its default IPPool).
pub const BLOCK_PREFIX: u8 = 26;

/// How pods get their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodIpam {
    /// From the node's `spec.podCIDR` (host-local IPAM on it).
    #[default]
    NodePodCidr,
    /// From /26 blocks of this pool, each with affinity to one node (Calico's IPAM).
    Pool(Ipv4Net),
}

impl std::fmt::Display for PodIpam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodIpam::NodePodCidr => f.write_str("node podCIDR"),
            PodIpam::Pool(pool) => write!(f, "pool {pool} (/{BLOCK_PREFIX} blocks per node)"),
        }
    }
}

/// Why no block could be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The pool is smaller than one block.
    #[error("the pool {pool} is smaller than a /{BLOCK_PREFIX} block")]
    PoolTooSmall { pool: Ipv4Net },
    /// Every block of the pool is claimed or overlaps an address range to avoid.
    #[error("no free /{BLOCK_PREFIX} block is left in the pool {pool}")]
    Exhausted { pool: Ipv4Net },
}

/// The blocks of a pool and the node each is affine to.
#[derive(Debug, Clone)]
pub struct BlockPool {
    pool: Ipv4Net,
    /// Ranges no block may overlap (the nodes' podCIDRs: pod IPs stay outside them).
    avoid: Vec<Ipv4Net>,
    claimed: BTreeMap<Ipv4Net, String>,
}

impl BlockPool {
    pub fn new(pool: Ipv4Net, avoid: Vec<Ipv4Net>) -> Result<Self, IpamError> {
        if pool.prefix_len() > BLOCK_PREFIX {
            return Err(IpamError::PoolTooSmall { pool });
        }
        Ok(BlockPool {
            pool: pool.trunc(),
            avoid,
            claimed: BTreeMap::new(),
        })
    }

    /// The next free block, now affine to `node`: the lowest one that is neither claimed
    /// nor overlapping a range to avoid.
    pub fn claim(&mut self, node: &str) -> Result<Ipv4Net, IpamError> {
        let blocks = self
            .pool
            .subnets(BLOCK_PREFIX)
            .map_err(|_| IpamError::PoolTooSmall { pool: self.pool })?;
        let free = blocks
            .filter(|b| !self.claimed.contains_key(b))
            .find(|b| !self.avoid.iter().any(|a| a.contains(b) || b.contains(a)));
        let block = free.ok_or(IpamError::Exhausted { pool: self.pool })?;
        self.claimed.insert(block, node.to_string());
        Ok(block)
    }

    /// The blocks affine to `node`, in address order.
    pub fn blocks_of(&self, node: &str) -> Vec<Ipv4Net> {
        self.claimed
            .iter()
            .filter(|(_, n)| n.as_str() == node)
            .map(|(b, _)| *b)
            .collect()
    }
}

/// Parses `node` or `pool:CIDR` (the CLI's `--pod-ipam`).
pub fn parse_pod_ipam(text: &str) -> Result<PodIpam, String> {
    match text.split_once(':') {
        None if text == "node" => Ok(PodIpam::NodePodCidr),
        Some(("pool", cidr)) => {
            let pool: Ipv4Net = cidr
                .parse()
                .map_err(|e| format!("{cidr:?} is not an IPv4 CIDR: {e}"))?;
            if pool.prefix_len() > BLOCK_PREFIX {
                return Err(format!(
                    "the pool {pool} is smaller than one /{BLOCK_PREFIX} block"
                ));
            }
            Ok(PodIpam::Pool(pool))
        }
        _ => Err(format!(
            "{text:?} is neither `node` nor `pool:CIDR` (e.g. pool:192.168.0.0/16)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_are_26s_of_the_pool_one_node_each() {
        let mut pool = BlockPool::new(net("192.168.0.0/16"), Vec::new()).unwrap();
        assert_eq!(pool.claim("node-1"), Ok(net("192.168.0.0/26")));
        assert_eq!(pool.claim("node-2"), Ok(net("192.168.0.64/26")));
        assert_eq!(pool.claim("node-1"), Ok(net("192.168.0.128/26")));
        assert_eq!(
            pool.blocks_of("node-1"),
            [net("192.168.0.0/26"), net("192.168.0.128/26")]
        );
        assert_eq!(pool.blocks_of("node-3"), Vec::<Ipv4Net>::new());
    }

    #[test]
    fn blocks_never_overlap_what_is_avoided() {
        // A pool that holds the nodes' podCIDRs too, as when podSubnet and the IPPool agree.
        let avoid = vec![net("10.244.0.0/24"), net("10.244.1.0/25")];
        let mut pool = BlockPool::new(net("10.244.0.0/23"), avoid).unwrap();
        assert_eq!(pool.claim("n"), Ok(net("10.244.1.128/26")));
        assert_eq!(pool.claim("n"), Ok(net("10.244.1.192/26")));
        assert_eq!(
            pool.claim("n"),
            Err(IpamError::Exhausted {
                pool: net("10.244.0.0/23")
            })
        );
    }

    #[test]
    fn a_pool_smaller_than_a_block_is_refused() {
        assert!(matches!(
            BlockPool::new(net("192.168.0.0/27"), Vec::new()),
            Err(IpamError::PoolTooSmall { .. })
        ));
    }

    #[test]
    fn the_cli_syntax() {
        assert_eq!(parse_pod_ipam("node"), Ok(PodIpam::NodePodCidr));
        assert_eq!(
            parse_pod_ipam("pool:192.168.0.0/16"),
            Ok(PodIpam::Pool(net("192.168.0.0/16")))
        );
        for bad in [
            "pool",
            "pool:",
            "pool:10.0.0.0/28",
            "calico",
            "pool:fd00::/64",
        ] {
            assert!(parse_pod_ipam(bad).is_err(), "{bad}");
        }
    }
}
