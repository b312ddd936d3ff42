// The plugin's JSON routes, fetched by URL relative to the iframe's base
// (/data/plugin/keras_relevance/); a 4xx/5xx answer becomes an Error with the route's message.

export async function api(route, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') query.set(k, v);
  const response = await fetch(`${route}?${query}`, {cache: 'no-store'});
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${route}: ${response.status} ${response.statusText}`);
  }
  if (!response.ok) throw new Error(body.error || `${route}: ${response.status}`);
  return body;
}
