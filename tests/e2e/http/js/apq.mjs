// Apollo Client's own PersistedQueryLink against the served app: the query is run twice, and every
// request the link sends is recorded (method, whether it carried the document, the answer's status).
// Usage: node apq.mjs <graphql url> <post|get> <query text>
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";
import { createHash } from "node:crypto";

const [url, method, text] = process.argv.slice(2);
const sent = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const body = init.body ? JSON.parse(init.body) : null;
  const response = await fetch(input, init);
  sent.push({
    method: init.method || "GET",
    document: body ? Boolean(body.query) : target.searchParams.has("query"),
    hash: Boolean(body ? body.extensions?.persistedQuery : target.searchParams.get("extensions")),
    status: response.status,
  });
  return response;
}

const link = createPersistedQueryLink({
  sha256: (query) => createHash("sha256").update(query).digest("hex"),
  useGETForHashedQueries: method === "get",
}).concat(new HttpLink({ uri: url, fetch: recordingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const query = gql(text);
const first = await client.query({ query, fetchPolicy: "network-only" });
const second = await client.query({ query, fetchPolicy: "network-only" });
console.log(JSON.stringify({ first: first.data, second: second.data, sent }));
