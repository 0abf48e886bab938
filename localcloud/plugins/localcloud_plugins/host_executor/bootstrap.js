// The Node.js runtime loop of a Lambda function running as a host process.
//
// Plays the part of Lambda's Node.js runtime: loads the handler once, then answers one
// invocation per line read from the control pipe. Handlers may be async or take a
// callback. console output is written to stdout in Lambda's tab-separated format and
// collected by the executor as the function's logs; answers go to a separate pipe.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const readline = require('readline');
const { pathToFileURL, urlToHttpOptions } = require('url');
const util = require('util');

const controlIn = Number(process.env._LOCALCLOUD_CONTROL_IN);
const controlOut = Number(process.env._LOCALCLOUD_CONTROL_OUT);
delete process.env._LOCALCLOUD_CONTROL_IN;
delete process.env._LOCALCLOUD_CONTROL_OUT;

function send(message) {
  fs.writeSync(controlOut, JSON.stringify(message) + '\n');
}

function errorPayload(err, errorType) {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    errorType: errorType || error.name || 'Error',
    errorMessage: error.message,
    trace: String(error.stack || '').split('\n'),
  };
}

// CloudFormation custom-resource handlers (CDK's among them) send their answer with
// https.request on port 443 of the ResponseURL's host. The local cloud's ResponseURL is
// plain HTTP on its own port (LOCALCLOUD_CFN_RESPONSE_ORIGIN); send requests for exactly
// that origin there. Every other request is untouched.
const responseOrigin = process.env.LOCALCLOUD_CFN_RESPONSE_ORIGIN;
if (responseOrigin) {
  const target = new URL(responseOrigin);
  const originalRequest = https.request;
  https.request = function request(options, ...rest) {
    let opts;
    let callbackArgs = rest;
    if (typeof options === 'string' || options instanceof URL) {
      opts = urlToHttpOptions(new URL(options));
      // https.request(url, options[, callback]): the options add to the URL's parts.
      if (rest.length && typeof rest[0] !== 'function') {
        opts = { ...opts, ...rest[0] };
        callbackArgs = rest.slice(1);
      }
    } else {
      opts = { ...options };
    }
    const host = opts.hostname || opts.host;
    const port = Number(opts.port || 443);
    if (host === target.hostname && (port === 443 || port === Number(target.port))) {
      delete opts.agent;
      delete opts.host;
      return http.request({ ...opts, hostname: target.hostname, port: target.port, protocol: 'http:' }, ...callbackArgs);
    }
    return originalRequest.call(https, options, ...rest);
  };
}

let currentRequestId = '';
for (const [method, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'], ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE']]) {
  console[method] = (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(...args)}\n`);
  };
}

async function loadHandler(spec, taskRoot) {
  const dot = spec.lastIndexOf('.');
  if (dot < 1) throw new Error(`Bad handler '${spec}': expected <module>.<function>`);
  const modulePath = spec.slice(0, dot);
  const functionName = spec.slice(dot + 1);
  const base = path.resolve(taskRoot, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((candidate) => fs.existsSync(candidate));
  if (!file) {
    const err = new Error(`Cannot find module '${modulePath}'`);
    err.name = 'Runtime.ImportModuleError';
    throw err;
  }
  const mod = await import(pathToFileURL(file).href);
  const handler = mod[functionName] ?? (mod.default && mod.default[functionName]);
  if (typeof handler !== 'function') {
    const err = new Error(`${modulePath}.${functionName} is undefined or not exported`);
    err.name = 'Runtime.HandlerNotFound';
    throw err;
  }
  return handler;
}

function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    const callback = (err, result) => (err ? reject(err) : resolve(result));
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
      else if (handler.length < 3) resolve(returned);
    } catch (err) {
      reject(err);
    }
  });
}

function makeContext(request) {
  const env = process.env;
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: request.invoked_function_arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: request.request_id,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, request.deadline_ms - Date.now()),
  };
}

async function main() {
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || '', process.env.LAMBDA_TASK_ROOT);
  } catch (err) {
    send({ type: 'init_error', error: errorPayload(err, err.name && err.name.startsWith('Runtime.') ? err.name : 'Runtime.ImportModuleError') });
    return;
  }
  send({ type: 'ready' });

  const lines = readline.createInterface({ input: fs.createReadStream(null, { fd: controlIn }) });
  for await (const line of lines) {
    const request = JSON.parse(line);
    currentRequestId = request.request_id;
    process.env._X_AMZN_TRACE_ID = request.trace_id || '';
    try {
      const event = request.payload ? JSON.parse(request.payload) : {};
      const result = await callHandler(handler, event, makeContext(request));
      send({ type: 'response', payload: JSON.stringify(result === undefined ? null : result) });
    } catch (err) {
      const error = errorPayload(err);
      console.error(`Invoke Error \t${JSON.stringify(error)}`);
      send({ type: 'error', error });
    }
  }
}

main().catch((err) => {
  send({ type: 'init_error', error: errorPayload(err, 'Runtime.Unknown') });
});
