// Reading a labeling config, and earlier steps' output turned into Label Studio predictions per control type.
import { parseLabelConfig } from '../../../src/core/label-config';
import { predictionFor } from '../../../src/refine/label-studio/predictions';

const XML = `<View>
  <Image name="image" value="$image_url"/>
  <RectangleLabels name="label" toName="image">
    <Label value="Airplane" background="green"/><Label value="Car"/>
  </RectangleLabels>
  <Header value="Quality"/>
  <Choices name="quality" toName="image" choice="single"><Choice value="good"/><Choice value="blurry"/></Choices>
  <TextArea name="caption" toName="image"/>
  <Rating name="stars" toName="image" maxRating="5"/>
</View>`;

test('objects, controls and their label values, in order', () => {
  const c = parseLabelConfig(XML);
  expect(c.objects).toEqual([{ type: 'image', name: 'image', field: 'image_url' }]);
  expect(c.controls).toEqual([
    { type: 'rectanglelabels', name: 'label', toName: ['image'], values: ['Airplane', 'Car'] },
    { type: 'choices', name: 'quality', toName: ['image'], values: ['good', 'blurry'] },
    { type: 'textarea', name: 'caption', toName: ['image'], values: [] },
    { type: 'rating', name: 'stars', toName: ['image'], values: [] },
  ]);
});

test('a config that is not XML, or declares nothing, is refused with the reason', () => {
  expect(() => parseLabelConfig('<View><Image name="i" value="$x"></View>')).toThrow(/not XML/);
  expect(() => parseLabelConfig('<View><Header value="hi"/></View>')).toThrow(/no object or control tags/);
});

test('predictions: one result per control with a value, in the shape Label Studio keeps; unknown choices are left to people', () => {
  const config = parseLabelConfig(XML);
  const p = predictionFor(config, { quality: 'good', caption: 'a plane', stars: '4', conf: 0.7, other: 1 }, { modelVersion: 'rules@1', score: 'conf' });
  expect(p).toMatchObject({
    model_version: 'rules@1',
    score: 0.7,
    result: [
      { from_name: 'quality', to_name: 'image', type: 'choices', value: { choices: ['good'] } },
      { from_name: 'caption', to_name: 'image', type: 'textarea', value: { text: ['a plane'] } },
      { from_name: 'stars', to_name: 'image', type: 'rating', value: { rating: 4 } },
    ],
  });
  expect(predictionFor(config, { quality: 'excellent' }, { modelVersion: 'm' })).toBeUndefined();
  expect(predictionFor(config, { q: 'good' }, { modelVersion: 'm', fields: { quality: 'q' } })?.result).toHaveLength(1);
  const box = { x: 10, y: 20, width: 30, height: 40, rotation: 0, rectanglelabels: ['Car'] };
  expect(predictionFor(config, { label: box }, { modelVersion: 'm' })?.result[0]).toMatchObject({ type: 'rectanglelabels', value: box });
});
