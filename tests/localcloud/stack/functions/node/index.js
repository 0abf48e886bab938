// The test stack's Node.js function: proves the runtime and the AWS SDK v3 on NODE_PATH.
const { S3Client, ListBucketsCommand } = require('@aws-sdk/client-s3');

exports.handler = async (event) => {
  console.log('node handler called for', event.path);
  const s3 = new S3Client({ forcePathStyle: true });
  const buckets = await s3.send(new ListBucketsCommand({}));
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ runtime: 'nodejs', node: process.version, buckets: (buckets.Buckets || []).length }),
  };
};
