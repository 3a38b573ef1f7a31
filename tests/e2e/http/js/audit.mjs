// Runs graphql-http's own server audits against the URL given and prints every result as JSON.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    entry.reason = result.reason;
    if (result.response) {
      entry.httpStatus = result.response.status;
      entry.body = await result.response.text().catch(() => "");
    }
  }
  results.push(entry);
}
console.log(JSON.stringify(results));
