//! End to end against a real Apache Kafka node and the real `switchboard` binary: topics
//! are ensured, `serve` answers over TCP, a created integration shows up as a CloudEvent that
//! `switchboard tail` prints, exactly as README tells a newcomer to watch it.

use crate::helpers::fresh_database;
use crate::processes::{exclusive, free_port, switchboard, wait_for_port, KafkaNode, Running};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_integration_reaches_a_real_broker_as_a_cloudevent() {
    let _one_at_a_time = exclusive().await;
    let broker = KafkaNode::start();
    let http_port = free_port();
    let mut env = vec![
        ("DATABASE_URL", fresh_database().await),
        ("KAFKA_BROKERS", broker.brokers()),
        ("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{http_port}")),
        ("SWITCHBOARD_TOPIC_PARTITIONS", "3".to_owned()),
        (
            "SWITCHBOARD_SECRET_KEYS",
            switchboard_adapters::store::XChaChaSealer::generate_entry("e2e"),
        ),
    ];
    env.extend(crate::helpers::process_env());

    for expected in [
        "created integrations.lifecycle",
        "exists  integrations.lifecycle",
    ] {
        let output = switchboard(&env)
            .args(["topics", "ensure"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(expected), "{stdout}");
        assert_eq!(
            stdout.lines().count(),
            14,
            "seven topics and their dead-letter topics: {stdout}"
        );
    }

    let _server = Running(
        switchboard(&env)
            .arg("serve")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(http_port, Duration::from_secs(60));
    let client = crate::helpers::client_for("acme").build().unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());

    let created = client
        .post(format!("{base}/v1/workspaces/acme/integrations"))
        .json(&serde_json::json!({"channel": "telegram", "name": "Support", "auth": {"bot_token": "e2e-plain-bot-token", "webhook_secret": "s"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tail = switchboard(&env)
        .args([
            "tail",
            "integrations.lifecycle",
            "--from-beginning",
            "--max",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tail.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = tail.kill();
            panic!("no lifecycle record within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = tail.wait_with_output().unwrap();
    let line: serde_json::Value =
        serde_json::from_slice(output.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["key"], id.as_str());
    assert_eq!(
        line["headers"]["ce_type"],
        "switchboard.integration.IntegrationCreated.v1"
    );
    assert_eq!(line["headers"]["ce_specversion"], "1.0");
    assert_eq!(line["body"]["integration_id"], id.as_str());
    assert!(
        !output
            .stdout
            .windows(19)
            .any(|w| w == b"e2e-plain-bot-token"),
        "the bot token is sealed on the topic"
    );

    let update = serde_json::json!({"update_id": 7001, "message": {"message_id": 12, "date": 1_700_000_000,
        "from": {"id": 4242, "is_bot": false, "first_name": "Ada"}, "chat": {"id": 4242, "type": "private"}, "text": "hello over a real broker"}});
    // Two updates, so `tail --max 1` has a second record it must not print.
    let later = serde_json::json!({"update_id": 7002, "message": {"message_id": 13, "date": 1_700_000_001,
        "from": {"id": 4242, "is_bot": false, "first_name": "Ada"}, "chat": {"id": 4242, "type": "private"}, "text": "and again"}});
    for update in [&update, &later] {
        let delivered = client
            .post(format!("{base}/webhooks/telegram/{id}"))
            .header("x-telegram-bot-api-secret-token", "s")
            .json(update)
            .send()
            .await
            .unwrap();
        assert_eq!(
            delivered.status(),
            200,
            "{}",
            delivered.text().await.unwrap()
        );
    }
    let record = tail_one(&env, "messages.received").await;
    assert_eq!(record["key"], format!("{id}:4242"));
    assert_eq!(
        record["headers"]["ce_type"],
        "switchboard.message.MessageReceived.v1"
    );
    assert_eq!(
        record["body"]["content"]["text"],
        "hello over a real broker"
    );
}

/// The first record of `topic`, as `switchboard tail` prints it.
async fn tail_one(env: &[(&str, String)], topic: &str) -> serde_json::Value {
    let mut tail = switchboard(env)
        .args(["tail", topic, "--from-beginning", "--max", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tail.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = tail.kill();
            panic!("no record on {topic} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = tail.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1, "--max 1 prints one record: {text}");
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}
