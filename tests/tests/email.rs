//! `email_send` over SMTP to a loopback SMTP server the test runs (the address checked by
//! the outbound policy), and over Amazon SES v2 on the emulator.

use aos_embedded::LocalSecrets;
use aos_runtime::net::AddressPolicy;
use aos_runtime::skills::{EmailSendSkill, Mailer, SmtpMailer};
use aos_runtime::SkillRegistry;
use aos_tests::StepRig;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Envelope recipients and the DATA of every message the server accepted.
type Mailbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server: enough of RFC 5321 for one client at a time.
async fn smtp_server() -> (SocketAddr, Mailbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let inbox: Mailbox = Arc::default();
    let sink = Arc::clone(&inbox);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"220 aos-test ESMTP\r\n").await;
            let mut rcpt = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-aos-test\r\n250 OK\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                    b"250 OK\r\n"
                } else if upper.starts_with("DATA") {
                    let _ = write.write_all(b"354 end with .\r\n").await;
                    let mut data = String::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push_str(&l);
                        data.push('\n');
                    }
                    sink.lock().expect("inbox").push((std::mem::take(&mut rcpt), data));
                    b"250 queued\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    break;
                } else {
                    b"250 OK\r\n"
                };
                let _ = write.write_all(reply).await;
            }
        }
    });
    (addr, inbox)
}

async fn run_email(mailer: Arc<dyn Mailer>, input: Value) -> aos_runtime::ports::RunRecord {
    let mut registry = SkillRegistry::new();
    let skill = EmailSendSkill { mailer: Some(mailer), default_from: Some("AOS <aos@example.com>".into()) };
    registry.register(Arc::new(skill)).expect("register");
    let rig = StepRig::new(Arc::new(registry)).await;
    rig.run(json!({"skill": "email_send", "input": input, "max_attempts": 1})).await.0
}

#[tokio::test]
async fn email_goes_out_over_smtp_to_an_allowed_server_and_not_to_a_refused_one() {
    let (addr, inbox) = smtp_server().await;
    let secrets = Arc::new(LocalSecrets::new(None));
    let allowed = Arc::new(AddressPolicy::parse_allow_list(&addr.to_string()).expect("allow"));
    let mailer = SmtpMailer::new(&format!("smtp://{addr}"), None, secrets.clone(), allowed).expect("mailer");
    let input = json!({"to": ["ada@example.com"], "cc": ["bob@example.com"], "subject": "Run finished", "text": "All 3 steps succeeded."});
    let run = run_email(Arc::new(mailer), input.clone()).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    assert_eq!(run.output.expect("output")["recipients"], json!(["ada@example.com", "bob@example.com"]));
    let (rcpt, data) = inbox.lock().expect("inbox")[0].clone();
    assert_eq!(rcpt, ["ada@example.com", "bob@example.com"]);
    assert!(data.contains("Subject: Run finished") && data.contains("All 3 steps succeeded."), "{data}");
    assert!(data.contains("From: AOS <aos@example.com>"), "the default sender: {data}");

    let refused =
        SmtpMailer::new(&format!("smtp://{addr}"), None, secrets, Arc::new(AddressPolicy::default())).expect("mailer");
    let run = run_email(Arc::new(refused), input).await;
    assert_eq!(run.error.expect("refused").code.as_str(), "ERR_BLOCKED_ADDRESS");
    assert_eq!(inbox.lock().expect("inbox").len(), 1, "nothing was sent to a refused server");
}

#[tokio::test]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn email_goes_out_through_ses_v2_on_the_emulator() {
    let endpoint = aos_tests::backends::emulator_endpoint();
    let conf = aos_aws::sdk_config().await;
    let ses = aws_sdk_sesv2::Client::new(&conf);
    ses.create_email_identity().email_identity("aos@example.com").send().await.expect("identity");
    let quota = || async {
        let body = reqwest::Client::new()
            .post(format!("{endpoint}/"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&[("Action", "GetSendQuota"), ("Version", "2010-12-01")])
            .send()
            .await
            .expect("quota")
            .text()
            .await
            .expect("text");
        let at = body.find("<SentLast24Hours>").expect("sent count") + "<SentLast24Hours>".len();
        body[at..].split('<').next().unwrap_or("0").parse::<f64>().unwrap_or(0.0)
    };
    let before = quota().await;
    let mailer: Arc<dyn Mailer> = Arc::new(aos_aws::SesMailer::new(ses));
    let input = json!({"to": ["ada@example.com"], "subject": "Hello", "html": "<p>hi</p>"});
    let run = run_email(Arc::clone(&mailer), input).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    assert!(run.output.expect("output")["message_id"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(quota().await, before + 1.0, "SES counted the message");
    let unverified = json!({"from": "nobody@elsewhere.test", "to": ["ada@example.com"], "subject": "x", "text": "y"});
    let run = run_email(mailer, unverified).await;
    assert_eq!(
        run.error.expect("refused").code.as_str(),
        "ERR_HTTP_4XX",
        "an unverified sender is refused, not retried"
    );
}
