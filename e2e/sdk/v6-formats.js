'use strict';
// connectycube@6.1.2 sends tag_list as the JSON array its typings declare
// (types/users.d.ts: `tag_list?: string[]`; src/Users.ts posts {user} with
// JSON.stringify), as in the JS guide's own signup example
// (ConnectyCube/docs js/authentication-and-users.mdx). cubeauth accepts it
// and answers user_tags as the comma-separated string the docs show.

const { assert, config, step, scenario } = require('./scenario');
const ConnectyCube = require('connectycube6').default;

scenario('v6 request formats: tag_list as an array', async () => {
  ConnectyCube.init({ appId: config.appId, authKey: config.authKey },
    { endpoints: { api_url: config.url }, debug: { mode: 0 } });

  // The JS guide's userProfile, with a unique login and email.
  const userProfile = {
    login: `marvin18${config.suffix}`,
    password: 'supersecurepwd',
    email: `awesomeman${config.suffix}@gmail.com`,
    full_name: 'Marvin Simon',
    phone: '47802323143',
    website: 'https://dozensofdreams.com',
    tag_list: ['iphone', 'apple'],
    custom_data: JSON.stringify({ middle_name: 'Bartoleo' }),
  };

  await step('users.signup with tag_list ["iphone","apple"] answers user_tags "iphone,apple"', async () => {
    const { user } = await ConnectyCube.users.signup(userProfile);
    assert.equal(user.login, userProfile.login);
    assert.equal(user.user_tags, 'iphone,apple');
  });

  await step('createSession, then users.update with tag_list ["android"] answers user_tags "android"', async () => {
    await ConnectyCube.createSession({ login: userProfile.login, password: userProfile.password });
    const { user } = await ConnectyCube.users.update({ tag_list: ['android'], full_name: 'Mar Sim' });
    assert.equal(user.user_tags, 'android');
    assert.equal(user.full_name, 'Mar Sim');
  });

  await step('users.update with tag_list as a string still works', async () => {
    const { user } = await ConnectyCube.users.update({ tag_list: 'vip,accountant' });
    assert.equal(user.user_tags, 'vip,accountant');
  });

  // The users queries the SDK exposes: users.getV2 (users/v2) and the
  // deprecated users.get forms (the v1 list, by_full_name, by_tags).
  const name = `Quinn ${config.suffix}`;
  const tag = `beta${config.suffix}`.toLowerCase();
  const first = await step('two more users with one full name prefix and a tag', async () => {
    const made = [];
    for (const [n, login] of [[`${name} A`, `quinna${config.suffix}`], [`${name} B`, `quinnb${config.suffix}`]]) {
      const { user } = await ConnectyCube.users.signup({ login, password: 'supersecurepwd', full_name: n, tag_list: ['x', tag] });
      made.push(user);
    }
    return made;
  });

  await step('users.getV2 with full_name[start_with] and sort_desc answers both, newest first, limit 5', async () => {
    const res = await ConnectyCube.users.getV2({ full_name: { start_with: name }, sort_desc: 'id' });
    assert.equal(res.limit, 5);
    assert.equal(res.total_entries, 2);
    assert.deepEqual(res.items.map((u) => u.id), [first[1].id, first[0].id]);
  });

  await step('users.getV2 with user_tags and an id[nin] answers the other user', async () => {
    const res = await ConnectyCube.users.getV2({ user_tags: tag, id: { nin: [first[0].id] } });
    assert.equal(res.total_entries, 1);
    assert.equal(res.items[0].id, first[1].id);
    assert.equal(res.items[0].user_tags, `x,${tag}`);
  });

  await step('users.get with a v1 filter and order answers the v1 list', async () => {
    const res = await ConnectyCube.users.get({
      filter: { field: 'id', param: 'ge', value: first[0].id },
      order: { field: 'login', sort: 'desc' },
      per_page: 10,
    });
    assert.equal(res.current_page, 1);
    assert.equal(res.per_page, 10);
    const ids = res.items.map((it) => it.user.id);
    assert.ok(ids.includes(first[0].id) && ids.includes(first[1].id), JSON.stringify(res));
    assert.ok(ids.indexOf(first[1].id) < ids.indexOf(first[0].id), 'login desc puts quinnb first');
  });

  await step('users.get({tags}) and users.get({full_name}) answer by_tags and by_full_name', async () => {
    const byTags = await ConnectyCube.users.get({ tags: tag });
    assert.equal(byTags.total_entries, 2);
    const byName = await ConnectyCube.users.get({ full_name: `${name} B` });
    assert.equal(byName.total_entries, 1);
    assert.equal(byName.items[0].user.id, first[1].id);
  });
});
