#!/usr/bin/env bash
# Creates what `aos dev --backend aws` and the functions need, mirroring infra/template.yaml:
# table `aos` (pk/sk, gsi1 on gsi1pk/gsi1sk, TTL on `ttl`, on-demand, point-in-time
# recovery), queue `aos-steps` (visibility 1800 s) with dead-letter queue `aos-steps-dlq`
# after 5 receives, and the secret `aos/golden-signing-key`.
set -euo pipefail

TABLE=aos
QUEUE=aos-steps
DLQ=aos-steps-dlq
VISIBILITY_TIMEOUT=5400
MAX_RECEIVE_COUNT=5

awslocal dynamodb create-table \
  --table-name "$TABLE" \
  --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
      AttributeName=gsi1pk,AttributeType=S AttributeName=gsi1sk,AttributeType=S \
      AttributeName=gsi2pk,AttributeType=S AttributeName=gsi2sk,AttributeType=S \
      AttributeName=gsi3pk,AttributeType=S AttributeName=gsi3sk,AttributeType=S \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
  --global-secondary-indexes \
      'IndexName=gsi1,KeySchema=[{AttributeName=gsi1pk,KeyType=HASH},{AttributeName=gsi1sk,KeyType=RANGE}],Projection={ProjectionType=ALL}' \
      'IndexName=ends,KeySchema=[{AttributeName=gsi2pk,KeyType=HASH},{AttributeName=gsi2sk,KeyType=RANGE}],Projection={ProjectionType=KEYS_ONLY}' \
      'IndexName=status,KeySchema=[{AttributeName=gsi3pk,KeyType=HASH},{AttributeName=gsi3sk,KeyType=RANGE}],Projection={ProjectionType=INCLUDE,NonKeyAttributes=[since_ms]}'
awslocal dynamodb update-time-to-live --table-name "$TABLE" \
  --time-to-live-specification Enabled=true,AttributeName=ttl
awslocal dynamodb update-continuous-backups --table-name "$TABLE" \
  --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true

dlq_url=$(awslocal sqs create-queue --queue-name "$DLQ" --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
awslocal sqs create-queue --queue-name "$QUEUE" --attributes \
  "{\"VisibilityTimeout\":\"$VISIBILITY_TIMEOUT\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"$MAX_RECEIVE_COUNT\\\"}\"}"

awslocal secretsmanager create-secret --name aos/golden-signing-key \
  --secret-string "$(head -c 48 /dev/urandom | base64 | tr -d '/+=')"

echo "AOS resources ready: table $TABLE, queue $QUEUE (DLQ $DLQ), secret aos/golden-signing-key"
