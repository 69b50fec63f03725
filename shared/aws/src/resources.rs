//! Creating the table and queues where they are missing: for emulators, first use and
//! tests. Production stacks get them from the SAM template with the same shapes.

use crate::dynamo::sdk_err;
use aos_runtime::ports::StoreResult;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Creates the AOS table (pk/sk, GSI `gsi1` on gsi1pk/gsi1sk, GSI `ends` on
/// gsi2pk/gsi2sk keys only, GSI `status` on gsi3pk/gsi3sk with `since_ms`, on-demand,
/// TTL on `ttl`) unless it exists.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> StoreResult<()> {
    if client.describe_table().table_name(name).send().await.is_ok() {
        return Ok(());
    }
    let attr = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().map_err(sdk_err)
    };
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build().map_err(sdk_err);
    let gsi = GlobalSecondaryIndex::builder()
        .index_name("gsi1")
        .key_schema(key("gsi1pk", KeyType::Hash)?)
        .key_schema(key("gsi1sk", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(sdk_err)?;
    // Finished runs by their end, for retention: only terminal runs carry its keys.
    let ends = GlobalSecondaryIndex::builder()
        .index_name(crate::ENDS_INDEX)
        .key_schema(key("gsi2pk", KeyType::Hash)?)
        .key_schema(key("gsi2sk", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(sdk_err)?;
    // Runs by status: keys and the time the run entered its status, nothing that a step
    // changes.
    let status = GlobalSecondaryIndex::builder()
        .index_name(crate::STATUS_INDEX)
        .key_schema(key("gsi3pk", KeyType::Hash)?)
        .key_schema(key("gsi3sk", KeyType::Range)?)
        .projection(
            Projection::builder().projection_type(ProjectionType::Include).non_key_attributes("since_ms").build(),
        )
        .build()
        .map_err(sdk_err)?;
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .attribute_definitions(attr("gsi2pk")?)
        .attribute_definitions(attr("gsi2sk")?)
        .attribute_definitions(attr("gsi3pk")?)
        .attribute_definitions(attr("gsi3sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .global_secondary_indexes(ends)
        .global_secondary_indexes(status)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(sdk_err)?;
    let ttl = TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().map_err(sdk_err)?;
    client.update_time_to_live().table_name(name).time_to_live_specification(ttl).send().await.map_err(sdk_err)?;
    Ok(())
}

/// URLs of a queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The work queue.
    pub queue: String,
    /// Its dead-letter queue.
    pub dead_letters: String,
}

/// Creates `name` with a dead-letter queue `<name>-dlq` after `max_receive_count`
/// receives, and the given visibility timeout (seconds); existing queues are reused.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
    visibility_secs: u32,
) -> StoreResult<QueueUrls> {
    let dlq = client.create_queue().queue_name(format!("{name}-dlq")).send().await.map_err(sdk_err)?;
    let dlq_url = dlq.queue_url.unwrap_or_default();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_err)?;
    let dlq_arn = attrs.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#);
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .send()
        .await
        .map_err(sdk_err)?;
    Ok(QueueUrls { queue: queue.queue_url.unwrap_or_default(), dead_letters: dlq_url })
}

/// Stores a deployment secret (a provider key, the SMTP password) under `id` in Secrets
/// Manager, where an operator keeps it: what `aws secretsmanager create-secret` does,
/// for setups and tests that provision from Rust.
pub async fn put_deployment_secret(id: &str, value: &str) -> StoreResult<()> {
    let conf = crate::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    client.create_secret().name(id).secret_string(value).send().await.map_err(sdk_err)?;
    Ok(())
}

/// Every item of `table`, each as debug text: for inspecting what a deployment stores
/// (tests search it for values that must never be stored).
pub async fn table_items_text(table: &str) -> StoreResult<Vec<String>> {
    let conf = crate::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let out = client.scan().table_name(table).send().await.map_err(sdk_err)?;
    Ok(out.items.unwrap_or_default().iter().map(|i| format!("{i:?}")).collect())
}
