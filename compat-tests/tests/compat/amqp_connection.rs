//! Connection-level behaviour with lapin: PLAIN and AMQPLAIN logins, a refused login
//! (ACCESS_REFUSED), an unknown virtual host (NOT_ALLOWED), and the connection's negotiated
//! limits as lapin sees them.

use lapin::{Connection, ConnectionProperties};
use neo_compat_tests::TestBroker;

async fn connect(uri: &str) -> lapin::Result<Connection> {
    Connection::connect(uri, ConnectionProperties::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_vhosts_and_negotiated_limits() {
    let broker = TestBroker::start().await;
    let addr = broker.amqp_addr;
    for mechanism in ["plain", "amqplain"] {
        let conn = connect(&format!(
            "amqp://guest:guest@{addr}/%2f?auth_mechanism={mechanism}"
        ))
        .await
        .unwrap_or_else(|e| panic!("{mechanism} login: {e}"));
        let config = conn.configuration();
        assert_eq!(config.frame_max(), 131_072);
        assert_eq!(config.channel_max(), 2_047);
        conn.close(200, "bye".into()).await.unwrap();
    }
    let refused = connect(&format!("amqp://guest:wrong@{addr}/%2f"))
        .await
        .expect_err("a wrong password is refused")
        .to_string();
    assert!(
        refused.contains("ACCESS_REFUSED") || refused.contains("ACCESS-REFUSED"),
        "{refused}"
    );
    let no_vhost = connect(&format!("amqp://guest:guest@{addr}/elsewhere"))
        .await
        .expect_err("an unknown vhost is refused")
        .to_string();
    assert!(
        no_vhost.contains("NOT_ALLOWED") || no_vhost.contains("NOT-ALLOWED"),
        "{no_vhost}"
    );
    broker.stop().await;
}
