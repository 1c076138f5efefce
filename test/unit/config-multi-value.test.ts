// HubSpot's multiple-checkbox properties named by the deployment, besides those each portal's properties
// say are: none by default, a comma-separated list otherwise, handed to every HubSpot connector the app
// builds.
import { loadConfig } from '../../src/app/config.js';

describe('HubSpot multi-value properties', () => {
  it('declares none by default: every property is one value', () => {
    expect(loadConfig({}).hubspotMultiValueProperties).toEqual([]);
  });

  it('reads a comma-separated list, spaces and empty entries aside', () => {
    expect(
      loadConfig({ HUBSPOT_MULTI_VALUE_PROPERTIES: ' interests, hs_buying_role ,,' })
        .hubspotMultiValueProperties,
    ).toEqual(['interests', 'hs_buying_role']);
  });
});
