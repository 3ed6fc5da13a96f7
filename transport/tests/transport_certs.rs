//! Certificates: names, identities, PEM files, and a CA reloaded from its
//! files issuing certificates that work on the wire.

mod transport_support;

use std::path::PathBuf;

use transport_support::*;
use zerodb_transport::certs::{CertError, CertFiles, CertificateAuthority};
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::{
    identity_from_certificate, IdentityError, NodeId, PeerIdentity, TlsIdentity,
};

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("PEM certificate")
        .to_vec()
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("zerodb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn issued_certificates_name_their_identity() {
    let ca = cluster_ca();
    let node = ca.issue_node(NodeId(42), 30).unwrap();
    assert_eq!(
        identity_from_certificate(&der_of(&node.cert_pem)),
        Ok(PeerIdentity::Node(NodeId(42)))
    );
    let client = ca.issue_client("carol", 30).unwrap();
    assert_eq!(
        identity_from_certificate(&der_of(&client.cert_pem)),
        Ok(PeerIdentity::Client("carol".into()))
    );
    assert_eq!(
        identity_from_certificate(&der_of(ca.cert_pem())),
        Err(IdentityError::Missing)
    );
    assert!(matches!(
        ca.issue_client("Carol!", 30),
        Err(CertError::Name(IdentityError::BadUserName(_)))
    ));
}

#[test]
fn malformed_identities_are_refused() {
    let ca = cluster_ca();
    let identity = |common_name: &str, names: &[&str]| {
        let issued = ca.issue_with_names(common_name, names, 30).unwrap();
        identity_from_certificate(&der_of(&issued.cert_pem))
    };
    assert!(matches!(
        identity("x", &["n1.node.zerodb", "n2.node.zerodb"]),
        Err(IdentityError::Ambiguous(_))
    ));
    assert_eq!(identity("x", &["example.com"]), Err(IdentityError::Missing));
    assert!(matches!(
        identity("x", &["n01.node.zerodb"]),
        Err(IdentityError::BadNodeName(_))
    ));
    assert!(matches!(
        identity("mallory", &["alice.client.zerodb"]),
        Err(IdentityError::CommonNameMismatch { .. })
    ));
    assert!(matches!(
        identity("a.b", &["a.b.client.zerodb"]),
        Err(IdentityError::BadUserName(_))
    ));
}

#[tokio::test]
async fn certificates_round_trip_through_files() {
    let dir = TempDir::new("certs-files");
    let files = CertFiles::new(&dir.0);
    let ca = CertificateAuthority::generate("files", 30).unwrap();
    files.write_ca(&ca).unwrap();
    assert!(
        matches!(files.write_ca(&ca), Err(CertError::AlreadyExists(_))),
        "no silent overwrite"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.ca_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "private keys are owner-only");
    }

    // A CA read back from its files issues certificates the original
    // accepts: node 1 from the original, node 2 and a client from the copy.
    let reloaded = files.read_ca().unwrap();
    files
        .write_node(NodeId(1), &ca.issue_node(NodeId(1), 30).unwrap())
        .unwrap();
    files
        .write_node(NodeId(2), &reloaded.issue_node(NodeId(2), 30).unwrap())
        .unwrap();
    files
        .write_client("dave", &reloaded.issue_client("dave", 30).unwrap())
        .unwrap();

    let local = "127.0.0.1:0".parse().unwrap();
    let one_tls = TlsIdentity::load_node(&files, NodeId(1)).unwrap();
    let two_tls = TlsIdentity::load_node(&files, NodeId(2)).unwrap();
    assert_eq!(two_tls.identity(), &PeerIdentity::Node(NodeId(2)));
    let (one, mut one_incoming) =
        zerodb_transport::Transport::<TestProtocol>::bind(local, &one_tls, test_config()).unwrap();
    let (two, _two_incoming) =
        zerodb_transport::Transport::<TestProtocol>::bind(local, &two_tls, test_config()).unwrap();
    two.add_peer(NodeId(1), one.local_addr());
    two.send(NodeId(1), &"from the reloaded CA".to_string())
        .await
        .expect("send");
    let event = tokio::time::timeout(WAIT, one_incoming.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.from(), &PeerIdentity::Node(NodeId(2)));

    let dave = TlsIdentity::load_client(&files, "dave").unwrap();
    let client = RpcClient::connect(&dave, one.local_addr(), Some(NodeId(1)), test_config())
        .await
        .expect("client from reloaded CA connects");
    client.close().await;
    assert!(matches!(
        TlsIdentity::load_client(&files, "erin"),
        Err(zerodb_transport::tls::TlsError::Files(CertError::Io { .. }))
    ));
    one.close().await;
    two.close().await;
}

#[test]
fn garbage_pem_is_a_clear_error() {
    let ca = cluster_ca();
    let issued = ca.issue_node(NodeId(1), 30).unwrap();
    let error = TlsIdentity::from_pem("not pem", &issued.cert_pem, &issued.key_pem).unwrap_err();
    assert!(error.to_string().contains("CA certificate"), "{error}");
    let error = TlsIdentity::from_pem(ca.cert_pem(), &issued.cert_pem, "nope").unwrap_err();
    assert!(error.to_string().contains("private key"), "{error}");
    assert!(CertificateAuthority::from_pem(ca.cert_pem(), "garbage").is_err());
}
