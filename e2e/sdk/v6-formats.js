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
});
